"""Reader of the training cache written by ``python -m training prepare`` (torch-free).

Layout of a cache directory (see :mod:`training.data.prepare`)::

    meta.json                   written last, atomically: tags, sample rate, options, summary
    train.json valid.json test.json
                                per-split manifests: clip_ids, paths (MTAT mp3 paths), files
                                (.npy paths relative to the cache), labels (N, K) 0/1, lengths
    audio/<folder>/<clip_id>.npy
                                int16 mono 16 kHz samples, scaled by 32767
    journal.jsonl               per-clip decode status (prepare's resume state)

A cache without a complete ``meta.json`` (an interrupted or running prepare) is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

META_FILE = "meta.json"
FORMAT_VERSION = 1
INT16_SCALE = 32767.0
"""int16 sample = round(clip(x, -1, 1) * 32767)."""

_META_KEYS = ("format_version", "complete", "tags", "sample_rate", "splits", "manifest_id")
_MANIFEST_KEYS = ("split", "manifest_id", "tags", "clip_ids", "paths", "files", "labels", "lengths")


class CacheError(RuntimeError):
    """The cache is missing, incomplete or inconsistent (the message says how to fix it)."""


def _rerun_hint(cache_dir: Path) -> str:
    return (
        f"run `python -m training prepare --mtat-root <MTAT root> --cache {cache_dir}` "
        "(it resumes and completes an interrupted cache)"
    )


def read_meta(cache_dir: str | Path) -> dict:
    """``meta.json`` of a complete cache; raises :class:`CacheError` otherwise."""
    cache_dir = Path(cache_dir)
    path = cache_dir / META_FILE
    if not path.is_file():
        raise CacheError(
            f"{cache_dir} is not a complete prepared cache ({META_FILE} is missing: prepare never "
            f"ran there, or was interrupted); {_rerun_hint(cache_dir)}"
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CacheError(f"{path} is unreadable ({exc}); {_rerun_hint(cache_dir)}") from exc
    missing = [k for k in _META_KEYS if k not in meta]
    if missing or meta.get("complete") is not True:
        raise CacheError(
            f"{path} is incomplete (missing {', '.join(missing) or 'complete=true'}); "
            f"{_rerun_hint(cache_dir)}"
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise CacheError(
            f"{path} has cache format {meta['format_version']}, this code reads "
            f"{FORMAT_VERSION}; {_rerun_hint(cache_dir)}"
        )
    return meta


class ClipCache:
    """One split of a prepared cache: labels in memory, audio memory-mapped on demand.

    Attributes: ``tags`` (K,), ``clip_ids`` (N,) int64, ``paths`` (MTAT mp3 paths), ``files``
    (absolute ``.npy`` paths), ``labels`` (N, K) float32, ``lengths`` (N,) int64 samples,
    ``sample_rate``, ``meta`` (the cache's ``meta.json``).
    """

    def __init__(self, cache_dir: Path, split: str, meta: dict, manifest: dict) -> None:
        self.cache_dir = cache_dir
        self.split = split
        self.meta = meta
        self.tags: tuple[str, ...] = tuple(manifest["tags"])
        self.sample_rate: int = int(meta["sample_rate"])
        self.clip_ids = np.asarray(manifest["clip_ids"], dtype=np.int64)
        self.paths: list[str] = list(manifest["paths"])
        self.files: list[Path] = [cache_dir / f for f in manifest["files"]]
        n, k = len(self.clip_ids), len(self.tags)
        self.labels = np.asarray(manifest["labels"], dtype=np.float32).reshape(n, k)
        self.lengths = np.asarray(manifest["lengths"], dtype=np.int64)
        if not (len(self.paths) == len(self.files) == len(self.lengths) == n):
            raise CacheError(f"{cache_dir / (split + '.json')}: columns disagree in length")

    @classmethod
    def open(cls, cache_dir: str | Path, split: str) -> ClipCache:
        """Open split ``split`` (``train|valid|test``) of the cache in ``cache_dir``."""
        cache_dir = Path(cache_dir)
        meta = read_meta(cache_dir)
        if split not in meta["splits"]:
            raise ValueError(
                f"unknown split {split!r}; the cache has {', '.join(sorted(meta['splits']))}"
            )
        path = cache_dir / f"{split}.json"
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CacheError(f"{path} is missing or unreadable; {_rerun_hint(cache_dir)}") from exc
        missing = [k for k in _MANIFEST_KEYS if k not in manifest]
        if missing or manifest["manifest_id"] != meta["manifest_id"]:
            raise CacheError(
                f"{path} does not belong to {cache_dir / META_FILE} (stale or partial manifest); "
                f"{_rerun_hint(cache_dir)}"
            )
        return cls(cache_dir, split, meta, manifest)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def raw(self, i: int) -> np.ndarray:
        """Memory-mapped int16 samples of clip ``i`` (slice before converting: cheap crops)."""
        try:
            return np.load(self.files[i], mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise CacheError(
                f"cached audio {self.files[i]} is unreadable ({exc}); {_rerun_hint(self.cache_dir)}"
            ) from exc

    def audio(self, i: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """float32 samples ``[start:stop]`` of clip ``i`` in [-1, 1] at ``sample_rate``."""
        return to_float(self.raw(i)[start:stop])


def to_float(x: np.ndarray) -> np.ndarray:
    """int16 cache samples -> float32 in [-1, 1]."""
    return np.asarray(x, dtype=np.float32) * np.float32(1.0 / INT16_SCALE)


def to_int16(x: np.ndarray) -> np.ndarray:
    """float audio -> int16 cache samples (scaled by 32767, clipped, rounded)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float32) * INT16_SCALE), -32768, 32767).astype(
        np.int16
    )
