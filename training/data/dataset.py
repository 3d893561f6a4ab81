"""Torch datasets over a prepared cache (:class:`training.data.cache.ClipCache`).

* :class:`RandomCropDataset` (training): one random fixed-length crop per clip and epoch, as in
  the sample-level / short-chunk CNN setups (Lee et al. 2017; Won et al. 2020).
* :class:`ChunkedClipDataset` (evaluation): ``n_chunks`` evenly spaced chunks per clip whose
  predictions are averaged per clip (Won et al. 2020 use 16), placed by the clip rule the
  service reads from the project's model cards (:meth:`tagging.clips.ClipRule.evenly_spaced`).

Reads are memory-mapped int16 slices (only the crop is read and converted), so a DataLoader
with a couple of workers keeps up with training; nothing is decoded per item.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from tagging.audio import take_chunks
from tagging.clips import ClipRule
from training.data.cache import ClipCache, to_float


class RandomCropDataset(Dataset):
    """item ``i`` -> ``(wave (L,) float32, labels (K,) float32)``: a random crop of clip ``i``.

    The crop start depends only on ``(seed, epoch, i)`` (call :meth:`set_epoch` before each
    epoch; with ``DataLoader(persistent_workers=True)`` the workers keep their own copy, so
    use non-persistent workers or recreate the loader). Clips shorter than ``chunk_samples``
    are zero-padded at the end.
    """

    def __init__(self, cache: ClipCache, chunk_samples: int, seed: int = 0) -> None:
        if chunk_samples < 1:
            raise ValueError(f"chunk_samples must be positive, got {chunk_samples}")
        self.cache = cache
        self.chunk_samples = int(chunk_samples)
        self.seed = int(seed)
        self.epoch = 0
        self.labels = torch.from_numpy(np.ascontiguousarray(cache.labels, dtype=np.float32))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.cache)

    def crop_start(self, i: int) -> int:
        """Start sample of item ``i``'s crop for the current ``(seed, epoch)``."""
        span = int(self.cache.lengths[i]) - self.chunk_samples
        if span <= 0:
            return 0
        rng = np.random.default_rng((self.seed, self.epoch, int(i)))
        return int(rng.integers(0, span + 1))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} clips")
        i = i % len(self)
        start = self.crop_start(i)
        wave = to_float(self.cache.raw(i)[start : start + self.chunk_samples])  # (<= L,)
        if len(wave) < self.chunk_samples:
            wave = np.pad(wave, (0, self.chunk_samples - len(wave)))
        return torch.from_numpy(wave), self.labels[i]


class ChunkedClipDataset(Dataset):
    """item ``i`` -> ``(chunks (n_chunks, L) float32, labels (K,) float32)`` for clip ``i``.

    Chunk starts come from :attr:`rule` (``ClipRule.evenly_spaced(L, n_chunks)``: first at 0,
    last ending at the clip's end). A clip not longer than one chunk yields one zero-padded
    chunk, repeated ``n_chunks`` times so batches stack (the mean over chunks is unchanged).
    """

    def __init__(self, cache: ClipCache, chunk_samples: int, n_chunks: int = 16) -> None:
        if chunk_samples < 1 or n_chunks < 1:
            raise ValueError("chunk_samples and n_chunks must be positive")
        self.cache = cache
        self.chunk_samples = int(chunk_samples)
        self.n_chunks = int(n_chunks)
        self.rule = ClipRule.evenly_spaced(self.chunk_samples, self.n_chunks)
        self.labels = torch.from_numpy(np.ascontiguousarray(cache.labels, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.cache)

    def starts(self, i: int) -> np.ndarray:
        """``(n_chunks,)`` start samples of clip ``i``'s chunks."""
        starts = self.rule.starts(int(self.cache.lengths[i]))
        if len(starts) < self.n_chunks:
            starts = np.resize(starts, self.n_chunks)
        return starts

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} clips")
        i = i % len(self)
        chunks = take_chunks(self.cache.audio(i), self.starts(i), self.chunk_samples)
        return torch.from_numpy(chunks), self.labels[i]
