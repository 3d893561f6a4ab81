"""Clip-level chunking rules of the ported taggers: which chunks of a clip the original tool scores.

Torch-free (the service uses it). A :class:`ClipRule` says how the original turns a whole clip
into model inputs, whose outputs are averaged:

* musicnn (Pons & Serra 2019): librosa pads the clip by ``n_fft // 2`` zeros at both ends
  (``center=True``), cuts the log-mel into non-overlapping 187-frame patches and drops the
  incomplete tail. In samples: pad ``lead``/``tail`` zeros, then chunks of ``chunk_samples``
  every ``hop_samples`` that fit entirely (``hop_samples`` set, ``n_chunks`` None).
* Won et al. 2020 (``eval.py``): ``n_chunks`` chunks starting at ``i * ((n - L) // n_chunks)``
  (``n_chunks`` set, ``hop_samples`` None).

Clips too short for one chunk (the originals fail on them: musicnn yields no patch, Won's hop
goes negative) are tiled (repeated) to the shortest length the rule accepts, so a 1-s upload
still gets an answer built from its own audio rather than from silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClipRule:
    """How a clip becomes chunks for one model; exactly one of ``hop_samples``/``n_chunks``."""

    chunk_samples: int
    hop_samples: int | None = None
    n_chunks: int | None = None
    lead_pad: int = 0
    tail_pad: int = 0

    def __post_init__(self) -> None:
        if (self.hop_samples is None) == (self.n_chunks is None):
            raise ValueError("set exactly one of hop_samples and n_chunks")
        if self.chunk_samples < 1 or min(self.lead_pad, self.tail_pad) < 0:
            raise ValueError("chunk_samples must be positive and the pads non-negative")
        if (self.hop_samples or 1) < 1 or (self.n_chunks or 1) < 1:
            raise ValueError("hop_samples and n_chunks must be positive")

    @property
    def min_samples(self) -> int:
        """Shortest clip (before padding) that yields a chunk; shorter clips are tiled to it."""
        return max(self.chunk_samples - self.lead_pad - self.tail_pad, 1)

    def starts(self, n_samples: int) -> np.ndarray:
        """Chunk start offsets in the padded clip of ``max(n_samples, min_samples)`` samples."""
        n = max(int(n_samples), self.min_samples) + self.lead_pad + self.tail_pad
        if self.hop_samples is not None:  # musicnn: every hop, whole chunks only
            return np.arange(0, n - self.chunk_samples + 1, self.hop_samples, dtype=np.int64)
        hop = (n - self.chunk_samples) // int(self.n_chunks)  # Won: eval.py's hop
        return np.arange(int(self.n_chunks), dtype=np.int64) * hop

    def chunks(self, x: np.ndarray) -> np.ndarray:
        """``(n_chunks, chunk_samples)`` float32 inputs for a mono clip ``x`` (any length >= 1)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 1 or len(x) == 0:
            raise ValueError(f"expected a non-empty mono signal, got shape {x.shape}")
        if len(x) < self.min_samples:
            x = np.tile(x, -(-self.min_samples // len(x)))[: self.min_samples]
        padded = np.pad(x, (self.lead_pad, self.tail_pad))
        starts = self.starts(len(x))
        return np.stack([padded[s : s + self.chunk_samples] for s in starts])
