"""The clip rule: which chunks of a clip a model scores (their outputs are averaged).

Torch-free (the service uses it). Every model card carries one :class:`ClipRule`
(:meth:`tagging.card.ModelCard.clip_rule`); the service, the CLI, ``training.evaluate_onnx`` and
training's evaluation (``training.data.dataset.ChunkedClipDataset``) all cut clips through it.
Three ways to place the chunks:

* musicnn (Pons & Serra 2019): librosa pads the clip by ``n_fft // 2`` zeros at both ends
  (``center=True``), cuts the log-mel into non-overlapping 187-frame patches and drops the
  incomplete tail. In samples: pad ``lead``/``tail`` zeros, then chunks of ``chunk_samples``
  every ``hop_samples`` that fit entirely (``hop_samples`` set, ``n_chunks`` None).
* Won et al. 2020 (``eval.py``): ``n_chunks`` chunks starting at ``i * ((n - L) // n_chunks)``
  (``n_chunks`` set, ``spacing="floor"``).
* evenly spaced (the project's own models, training's evaluation): ``n_chunks`` starts from 0 to
  ``n - L`` rounded, a single chunk when ``n <= L`` (:func:`tagging.audio.chunk_starts`;
  ``n_chunks`` set, ``spacing="even"``).

Clips too short for one chunk are either tiled (repeated) to the shortest length the rule
accepts (``short_clips="tile"``: the originals fail on them, musicnn yields no patch and Won's hop
goes negative, so a 1-s upload still gets an answer built from its own audio rather than from
silence) or zero-padded at the end (``short_clips="zero"``: what training's evaluation does).

Whole songs: the ``n_chunks`` rules hear at most ``n_chunks x chunk_samples`` (:attr:`span_samples`;
Won's 16 chunks of 3 s hear 48 s of a 570-s track). :meth:`ClipRule.cover` keeps exactly those
chunks for recordings within the span or within :data:`CLIP_SAMPLES` (a MagnaTagATune clip: what
the cards' evaluations measured) and, past both, spreads enough chunks over the whole recording
to hear all of it (at most ``max_chunks``); the service and the CLI cut clips that way, training's
evaluation keeps :meth:`ClipRule.starts`. The hop rules (musicnn) already hear any clip whole.

:meth:`ClipRule.cut` gives the chunks lazily (:class:`tagging.chunks.Chunks`: the clip as padded
or tiled, and the start offsets; the service's batch queue holds that, about the clip's size);
:meth:`ClipRule.chunks` materialises them as the ``(N, L)`` array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import ConfigDict, with_config

from tagging.audio import chunk_starts
from tagging.chunks import Chunks
from tagging.constants import SAMPLE_RATE

CLIP_SAMPLES = 30 * SAMPLE_RATE
"""Recordings up to 30 s (a 29.1-s MagnaTagATune clip) always keep the rule's own chunks."""

Spacing = Literal["floor", "even"]
ShortClips = Literal["tile", "zero"]


@with_config(ConfigDict(extra="forbid"))  # a misspelt key on a card is an error, not a default
@dataclass(frozen=True)
class ClipRule:
    """How a clip becomes chunks for one model; exactly one of ``hop_samples``/``n_chunks``.

    ``chunk_samples``: model input length L. ``hop_samples``: chunk every hop over the padded clip
    (whole chunks only). ``n_chunks``: that many chunks, placed by ``spacing`` (``floor``: Won's
    ``i * ((n - L) // n_chunks)``; ``even``: :func:`tagging.audio.chunk_starts`). ``lead_pad`` /
    ``tail_pad``: zeros added before / after the clip. ``short_clips``: clips shorter than
    :attr:`min_samples` are tiled (``tile``) or zero-padded at the end (``zero``) to it.
    """

    chunk_samples: int
    hop_samples: int | None = None
    n_chunks: int | None = None
    lead_pad: int = 0
    tail_pad: int = 0
    spacing: Spacing = "floor"
    short_clips: ShortClips = "tile"

    def __post_init__(self) -> None:
        if (self.hop_samples is None) == (self.n_chunks is None):
            raise ValueError("set exactly one of hop_samples and n_chunks")
        if self.chunk_samples < 1 or min(self.lead_pad, self.tail_pad) < 0:
            raise ValueError("chunk_samples must be positive and the pads non-negative")
        if min(v for v in (self.hop_samples, self.n_chunks) if v is not None) < 1:
            raise ValueError("hop_samples and n_chunks must be positive")
        if self.spacing not in ("floor", "even") or self.short_clips not in ("tile", "zero"):
            raise ValueError("spacing is 'floor' or 'even', short_clips 'tile' or 'zero'")
        if self.spacing == "even" and (
            self.hop_samples is not None or self.lead_pad or self.tail_pad
        ):
            raise ValueError("spacing 'even' places n_chunks chunks over the unpadded clip")

    @classmethod
    def evenly_spaced(cls, chunk_samples: int, n_chunks: int) -> ClipRule:
        """``n_chunks`` evenly spaced chunks, short clips zero-padded (training's evaluation,
        Won et al. 2020's 16 chunks placed end to end)."""
        return cls(chunk_samples, n_chunks=n_chunks, spacing="even", short_clips="zero")

    @property
    def min_samples(self) -> int:
        """Shortest clip (before padding) that yields a chunk; shorter clips are brought to it."""
        return max(self.chunk_samples - self.lead_pad - self.tail_pad, 1)

    @property
    def span_samples(self) -> int | None:
        """Most samples :meth:`starts` hears: ``n_chunks x chunk_samples`` (None for a hop rule,
        whose chunks run over the whole clip)."""
        return None if self.n_chunks is None else int(self.n_chunks) * self.chunk_samples

    def starts(self, n_samples: int) -> np.ndarray:
        """Chunk start offsets in the padded clip of ``max(n_samples, min_samples)`` samples."""
        n = max(int(n_samples), self.min_samples) + self.lead_pad + self.tail_pad
        if self.hop_samples is not None:  # musicnn: every hop, whole chunks only
            return np.arange(0, n - self.chunk_samples + 1, self.hop_samples, dtype=np.int64)
        if self.spacing == "even":  # end to end; one chunk when n <= L
            return chunk_starts(n, self.chunk_samples, int(self.n_chunks))
        hop = (n - self.chunk_samples) // int(self.n_chunks)  # Won: eval.py's hop
        return np.arange(int(self.n_chunks), dtype=np.int64) * hop

    def cover(self, n_samples: int, max_chunks: int | None = None) -> np.ndarray:
        """Chunk start offsets (padded clip) that hear a long recording whole, up to ``max_chunks``.

        Exactly :meth:`starts` for a hop rule, with ``max_chunks`` None, or when the clip is within
        :attr:`span_samples` or :data:`CLIP_SAMPLES` (the originals' chunks, parity kept). Longer
        clips get
        ``ceil(n / L)`` chunks (at least ``n_chunks``, at most ``max_chunks``) evenly spread from
        the first to the last sample: they overlap by under one chunk in all when uncapped, and
        leave equal gaps between them when capped.
        """
        starts = self.starts(n_samples)
        span = self.span_samples
        n = max(int(n_samples), self.min_samples)
        if span is None or max_chunks is None or n <= max(span, CLIP_SAMPLES):
            return starts
        length = self.chunk_samples
        k = max(int(self.n_chunks or 1), min(-(-n // length), int(max_chunks)))
        return chunk_starts(n + self.lead_pad + self.tail_pad, length, k)

    def heard_samples(self, n_samples: int, starts: np.ndarray) -> int:
        """Samples of an ``n_samples`` clip that chunks at ``starts`` (padded clip) hear: their
        union within the clip, padding and tiled repeats not counted."""
        lo = self.lead_pad
        hi = lo + int(n_samples)
        heard, reach = 0, lo
        for s in np.sort(np.asarray(starts, dtype=np.int64)):
            a, b = max(int(s), reach), min(int(s) + self.chunk_samples, hi)
            if b > a:
                heard, reach = heard + b - a, b
        return heard

    def cut(self, x: np.ndarray, max_chunks: int | None = None) -> Chunks:
        """The chunks of a mono clip ``x`` (any length >= 1), lazily: the clip (tiled or
        zero-padded to :attr:`min_samples`, then ``lead``/``tail`` padded) and the start offsets
        of :meth:`starts`, or of :meth:`cover` with ``max_chunks``; no chunk is copied yet, and
        the zeros are never written out as a padded copy of the clip
        (:class:`tagging.chunks.Chunks`)."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 1 or len(x) == 0:
            raise ValueError(f"expected a non-empty mono signal, got shape {x.shape}")
        short = max(self.min_samples - len(x), 0)  # samples a short clip lacks
        if short and self.short_clips == "tile":
            x, short = np.tile(x, -(-self.min_samples // len(x)))[: self.min_samples], 0
        starts = self.cover(len(x) + short, max_chunks)
        # the padding stays two numbers: each run's rows are cut from x with their zeros
        return Chunks.cut(x, starts, self.chunk_samples, self.lead_pad, short + self.tail_pad)

    def chunks(self, x: np.ndarray, max_chunks: int | None = None) -> np.ndarray:
        """``(n_chunks, chunk_samples)`` float32 inputs for a mono clip ``x`` (any length >= 1):
        :meth:`cut`'s chunks, materialised."""
        return np.asarray(self.cut(x, max_chunks))
