"""How a clip becomes a model's chunks: its clip-level rule (evenly spaced or every hop) and padding.

Two rules reproduce the published tools' clip-level outputs:

* evenly spaced (``n_chunks``): ``n_chunks`` chunks from the start to the end of the clip, whose
  sigmoid outputs are averaged (Won et al. 2020, "Evaluation of CNN-based automatic music tagging
  models", SMC; the eight architectures here and the Won ports);
* every hop (``hop_samples``): whole chunks at ``0, hop, 2*hop, ...`` while they fit, the tail
  shorter than a chunk dropped (musicnn's ``extractor``: non-overlapping 3-s patches when the hop
  equals the chunk; Pons & Serra 2019).

A clip shorter than one chunk becomes one chunk, padded with zeros (``pad="zero"``, training's
evaluation) or by repeating the clip (``pad="repeat"``). Torch-free: the service imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from training.data.audio import chunk_starts, take_chunks

Pad = Literal["zero", "repeat"]
PADS: tuple[str, ...] = ("zero", "repeat")


@dataclass(frozen=True)
class ClipRule:
    """Chunk length, which chunks of a clip are averaged, and how a short clip is padded."""

    chunk_samples: int
    n_chunks: int | None = None  # evenly spaced chunks (Won et al. 2020)
    hop_samples: int | None = None  # whole chunks every hop (musicnn)
    pad: Pad = "zero"

    def __post_init__(self) -> None:
        if self.chunk_samples < 1:
            raise ValueError(f"chunk_samples must be positive, got {self.chunk_samples}")
        if (self.n_chunks is None) == (self.hop_samples is None):
            raise ValueError("a clip rule has exactly one of n_chunks and hop_samples")
        if (self.n_chunks or 1) < 1 or (self.hop_samples or 1) < 1:
            raise ValueError("n_chunks and hop_samples must be positive")
        if self.pad not in PADS:
            raise ValueError(f"pad must be one of {PADS}, got {self.pad!r}")

    @classmethod
    def from_card(cls, card: Any, n_chunks: int) -> ClipRule:
        """The rule of a model card (a dict or an object with the card's attributes): every
        ``hop_samples`` when the card sets it, else ``n_chunks`` evenly spaced chunks."""

        def field(name: str) -> Any:
            return card.get(name) if isinstance(card, dict) else getattr(card, name, None)

        hop = field("hop_samples")
        return cls(
            chunk_samples=int(field("chunk_samples")),
            n_chunks=None if hop else int(n_chunks),
            hop_samples=int(hop) if hop else None,
            pad=field("pad") or "zero",
        )

    def starts(self, n_samples: int) -> np.ndarray:
        """Chunk start offsets ``(N,)`` int64 for a clip of ``n_samples`` (one at 0 if short)."""
        length = self.chunk_samples
        if self.hop_samples is None:
            return chunk_starts(n_samples, length, int(self.n_chunks or 1))
        if n_samples <= length:
            return np.zeros(1, dtype=np.int64)
        return np.arange(0, n_samples - length + 1, self.hop_samples, dtype=np.int64)

    def count(self, n_samples: int) -> int:
        """How many chunks a clip of ``n_samples`` gives."""
        if self.n_chunks is not None:
            return 1 if n_samples <= self.chunk_samples else self.n_chunks
        return len(self.starts(n_samples))

    def padded(self, wave: np.ndarray) -> np.ndarray:
        """``wave`` unchanged when it holds one chunk, else padded to one chunk by the rule."""
        if len(wave) >= self.chunk_samples or self.pad == "zero" or len(wave) == 0:
            return wave  # take_chunks zero-pads
        reps = -(-self.chunk_samples // len(wave))  # ceil
        return np.tile(wave, reps)[: self.chunk_samples]

    def chunks(self, wave: np.ndarray, extra_starts: np.ndarray | None = None) -> np.ndarray:
        """``(N, chunk_samples)`` float32 chunks of the clip, then chunks at ``extra_starts``."""
        wave = self.padded(wave)
        starts = self.starts(len(wave))
        if extra_starts is not None:
            starts = np.concatenate([starts, extra_starts])
        return take_chunks(wave, starts, self.chunk_samples)

    def describe(self) -> dict[str, Any]:
        """The card's fields for this rule."""
        out: dict[str, Any] = {"chunk_samples": self.chunk_samples, "pad": self.pad}
        if self.hop_samples is not None:
            out["hop_samples"] = self.hop_samples
        else:
            out["eval_chunks"] = self.n_chunks
        return out
