"""Where the study's clips come from: label tables, real or synthetic MTAT roots, subsamples."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass
class StudyData:
    """The study's population: labels ``y (N, K)`` of ``clip_ids`` and, for an MTAT root, paths."""

    kind: str
    """Report title: "real MTAT", "SYNTHETIC MTAT", "real MTAT labels" or "label table"."""
    source: str
    """Markdown sentence naming the data (and, for a root, how its kind was decided)."""
    tags: tuple[str, ...]
    clip_ids: np.ndarray
    y: np.ndarray
    n_total: int
    """Clips in the population (a label table may omit the untagged ones)."""
    note: str = ""
    paths: list[str] = field(default_factory=list)
    """mp3 paths relative to the root, one per clip (empty for a label table)."""


def load_table(path: Path, total_clips: int | None, description: str | None) -> StudyData:
    """A label table (labels only); ``description`` names packaged real labels."""
    clip_ids, tags, y = read_labels_table(path)
    n_total = int(total_clips) if total_clips is not None else len(clip_ids)
    source = description or f"label table `{path.name}` (labels only, no audio)"
    note = ""
    if n_total > len(clip_ids):
        note = (
            f"The table lists only the {len(clip_ids)} clips that carry at least one of "
            f"these tags; the other {n_total - len(clip_ids)} of the {n_total} clips carry "
            "none and are counted as such (cardinality 0 and all probabilities are over "
            f"{n_total} clips)."
        )
    kind = "real MTAT labels" if description else "label table"
    return StudyData(kind, source, tags, clip_ids, y, n_total, note)


def load_root(root: Path, top_k: int, data_kind: str) -> StudyData:
    """An MTAT root's top-``top_k`` labels and paths; ``data_kind`` "auto" detects real/synthetic."""
    from training.data.mtat import read_annotations

    if not root.is_dir():
        raise FileNotFoundError(f"MTAT root not found: {root}")
    ann = read_annotations(root, top_k=top_k)
    tags = tuple(ann.tags)
    clips = list(ann.clips)
    y_all = np.asarray(ann.label_matrix(clips))
    clip_ids = np.array([c.clip_id for c in clips], dtype=np.int64)
    y = (y_all > 0).astype(np.int64)
    found, reason = detect_data_kind(root, clip_ids, [c.path for c in clips], y)
    data_kind = found if data_kind == "auto" else data_kind
    kind = "SYNTHETIC MTAT" if data_kind == "synthetic" else "real MTAT"
    how = f"detected: {reason}" if found == data_kind else f"set by --data-kind; {reason}"
    if data_kind == "synthetic":
        source = (
            f"**synthetic MTAT, not real music** (e.g. made by `training.data.synth`) at "
            f"`{root}` ({how}): its audio is rendered from the tags, so these "
            "numbers describe the generator, not MTAT"
        )
    else:
        source = f"**real MTAT** at `{root}` ({how})"
    return StudyData(kind, source, tags, clip_ids, y, len(clips), paths=[c.path for c in clips])
