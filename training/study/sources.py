"""Where the study's clips come from: label tables, real or synthetic MTAT roots, subsamples."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from training.constants import data_file
from training.data.mtat import SYNTHETIC_MARKER
from training.study.config import REAL_LABELS_TABLE

SYNTH_MARKERS = (SYNTHETIC_MARKER,)
"""Files whose presence in an MTAT root marks it as synthetic (written by ``training.data.synth``)."""


def read_labels_table(path: str | Path) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Read a tab-separated label table (``clip_id``, tag columns, ``mp3_path``[, other]).

    Returns ``(clip_ids (N,), tags, labels (N, K) int)``. Columns other than ``clip_id``,
    ``mp3_path`` and ``robak_split`` are tags.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label table not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or "clip_id" not in rows[0]:
        raise ValueError(f"{path}: expected a tab-separated header with a clip_id column")
    header = rows[0]
    non_tags = {"clip_id", "mp3_path", "robak_split"}
    tag_idx = [i for i, h in enumerate(header) if h not in non_tags]
    if not tag_idx:
        raise ValueError(f"{path}: no tag columns")
    id_idx = header.index("clip_id")
    body = [r for r in rows[1:] if r]
    try:
        ids = np.array([int(r[id_idx]) for r in body], dtype=np.int64)
        y = np.array([[int(r[i]) for i in tag_idx] for r in body], dtype=np.int64)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: malformed row: {exc}") from exc
    return ids, tuple(header[i] for i in tag_idx), y.reshape(len(body), len(tag_idx))


def detect_data_kind(
    root: Path, clip_ids: Sequence[int], paths: Sequence[str], labels: np.ndarray
) -> tuple[str, str]:
    """``("real" | "synthetic", reason)`` for an MTAT root.

    A marker file (:data:`SYNTH_MARKERS`) means synthetic. Otherwise the clips that carry a tag
    are matched, by (clip id, mp3 path), against the packaged list of the real MTAT clips with a
    top-10 tag: a real MTAT root matches (almost) all of them, a synthetic one (made-up names)
    almost none.
    """
    for name in SYNTH_MARKERS:
        if (root / name).exists():
            return "synthetic", f"marker file `{name}`"
    ids, _, _ = read_labels_table(data_file(REAL_LABELS_TABLE))
    with open(data_file(REAL_LABELS_TABLE), newline="", encoding="utf-8") as f:
        real = {(int(r["clip_id"]), r["mp3_path"]) for r in csv.DictReader(f, delimiter="\t")}
    tagged = [(int(c), p) for c, p, row in zip(clip_ids, paths, labels, strict=True) if row.any()]
    if not tagged:
        tagged = [(int(c), p) for c, p in zip(clip_ids, paths, strict=True)]
    share = sum(1 for t in tagged if t in real) / max(len(tagged), 1)
    reason = (
        f"{100 * share:.1f}% of its {len(tagged)} tagged clips match the real MTAT clip "
        f"list (clip id + mp3 path, {len(ids)} real clips with a top-10 tag)"
    )
    return ("real" if share >= 0.9 else "synthetic"), reason


def select_clips(n: int, max_clips: int | None, seed: int) -> np.ndarray:
    """Deterministic subsample: sorted indices of the first ``max_clips`` of a seeded permutation."""
    if max_clips is None or max_clips >= n:
        return np.arange(n)
    if max_clips < 1:
        raise ValueError("--max-clips must be positive")
    return np.sort(np.random.default_rng(seed).permutation(n)[:max_clips])
