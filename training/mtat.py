"""MagnaTagATune on disk: ``annotations_final.csv`` and the mp3 folders ``0``..``f``.

The real file is tab-separated with every field double-quoted; its header is ``clip_id``,
188 tag names and ``mp3_path``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ANNOTATIONS_FILE = "annotations_final.csv"


def write_annotations(
    path: str | Path,
    clip_ids: Sequence[int],
    mp3_paths: Sequence[str],
    tag_columns: Sequence[str],
    labels: np.ndarray,
) -> None:
    """Write an ``annotations_final.csv`` in MTAT's exact format.

    ``labels`` is ``(n_clips, len(tag_columns))`` of 0/1. Every field is double-quoted and
    tab-separated, as in the official file.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(clip_ids), len(tag_columns)) or len(mp3_paths) != len(clip_ids):
        raise ValueError("clip_ids, mp3_paths and labels disagree in size")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(["clip_id", *tag_columns, "mp3_path"])
        for cid, row, p in zip(clip_ids, labels, mp3_paths, strict=True):
            w.writerow([int(cid), *(int(v) for v in row), p])
