"""MagnaTagATune on disk: ``annotations_final.csv`` and the mp3 folders ``0``..``f``.

The real file is tab-separated with every field double-quoted; its header is ``clip_id``,
188 tag names and ``mp3_path``.

:func:`read_annotations` keeps the ``top_k`` most frequent tags (ties broken by column order),
optionally after merging MTAT's known synonym tags (:data:`SYNONYM_GROUPS`; off by default so
that results compare with the literature, which uses the raw top-50 / top-10 columns).
:meth:`MTATAnnotations.split` is the literature's folder split (``0-b`` train, ``c`` valid,
``d-f`` test; Lee et al. 2017, Pons et al. 2018, Won et al. 2020), never a random one.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagging.synonyms import SYNONYM_GROUPS
from training.constants import SPLIT_FOLDERS

ANNOTATIONS_FILE = "annotations_final.csv"

SPLITS: tuple[str, ...] = ("train", "valid", "test")


class AnnotationsError(ValueError):
    """``annotations_final.csv`` is missing or not in MTAT's format (the message says where)."""


@dataclass(frozen=True)
class Clip:
    """One row of ``annotations_final.csv``: ``labels`` are 0/1 for the kept tags."""

    clip_id: int
    path: str
    labels: tuple[int, ...]

    @property
    def folder(self) -> str:
        """First path component (MTAT's hex folder ``0``..``f``)."""
        return self.path.split("/", 1)[0]


@dataclass(frozen=True)
class MTATAnnotations:
    """Parsed annotations: every clip (file order), the kept tags and all tag counts.

    ``tag_counts`` holds the positive count of every column (after synonym merging when asked),
    in column order; ``columns`` lists those columns.
    """

    root: Path
    tags: tuple[str, ...]
    clips: tuple[Clip, ...]
    tag_counts: dict[str, int]
    columns: tuple[str, ...] = ()
    merge_synonyms: bool = False
    merged: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def split(self, name: str, clean: bool = False) -> list[Clip]:
        """Clips of the folder split ``name`` (train ``0-b``, valid ``c``, test ``d-f``).

        ``clean=True`` keeps only clips with at least one kept tag.
        """
        if name not in SPLIT_FOLDERS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        folders = set(SPLIT_FOLDERS[name])
        return [c for c in self.clips if c.folder in folders and (not clean or any(c.labels))]

    def label_matrix(self, clips: Sequence[Clip]) -> np.ndarray:
        """``(N, K)`` float32 0/1 labels of ``clips`` for the kept tags."""
        if not clips:
            return np.zeros((0, len(self.tags)), dtype=np.float32)
        return np.asarray([c.labels for c in clips], dtype=np.float32).reshape(
            len(clips), len(self.tags)
        )


def merge_synonym_columns(
    columns: Sequence[str], matrix: np.ndarray
) -> tuple[list[str], np.ndarray, dict[str, tuple[str, ...]]]:
    """OR the members of each :data:`SYNONYM_GROUPS` group present in ``columns``.

    ``matrix`` is ``(N, C)`` 0/1. Returns the new columns (a merged column sits where its first
    member was), the ``(N, C')`` matrix and ``{merged name: members present}``.
    """
    index = {c: i for i, c in enumerate(columns)}
    group_of: dict[str, tuple[str, ...]] = {}
    for group in SYNONYM_GROUPS:
        present = tuple(m for m in group if m in index)
        if len(present) > 1:
            for m in present:
                group_of[m] = present
    new_cols: list[str] = []
    new_data: list[np.ndarray] = []
    merged: dict[str, tuple[str, ...]] = {}
    done: set[str] = set()
    for c in columns:
        if c in done:
            continue
        if c in group_of:
            present = group_of[c]
            name = next(g[0] for g in SYNONYM_GROUPS if present[0] in g)
            cols = [index[m] for m in present]
            new_cols.append(name)
            new_data.append(matrix[:, cols].max(axis=1))
            merged[name] = present
            done.update(present)
        else:
            new_cols.append(c)
            new_data.append(matrix[:, index[c]])
            done.add(c)
    out = np.stack(new_data, axis=1) if new_data else np.zeros((len(matrix), 0), matrix.dtype)
    return new_cols, out.astype(matrix.dtype, copy=False), merged


def top_k_columns(counts: np.ndarray, k: int | None) -> np.ndarray:
    """Indices of the ``k`` largest counts, most frequent first, ties by column order."""
    counts = np.asarray(counts)
    # Stable sort on -count keeps equal counts in column order (deterministic tie-break).
    order = np.argsort(-counts, kind="stable")
    return order if k is None else order[:k]


def read_annotations(
    root: str | Path, top_k: int | None = 10, merge_synonyms: bool = False
) -> MTATAnnotations:
    """Read ``<root>/annotations_final.csv`` and keep the ``top_k`` most frequent tags.

    ``top_k=None`` keeps every column. Raises :class:`AnnotationsError` (a ``ValueError``) for a
    missing file, a header without ``clip_id``/tag/``mp3_path`` columns, or a malformed row
    (wrong field count, non-integer clip id, a label other than 0/1, an empty path, a repeated
    clip id); the message names the file and line.
    """
    root = Path(root)
    path = root / ANNOTATIONS_FILE if root.is_dir() or not root.suffix else root
    if path != root / ANNOTATIONS_FILE:
        root = path.parent
    if not path.is_file():
        raise AnnotationsError(
            f"MTAT annotations not found: {path} (expected {ANNOTATIONS_FILE} in the MTAT root "
            "beside the mp3 folders 0..f)"
        )
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive number of tags or None, got {top_k}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quotechar='"')
        try:
            header = next(reader)
        except StopIteration:
            raise AnnotationsError(f"{path}: the file is empty (no header line)") from None
        missing = [c for c in ("clip_id", "mp3_path") if c not in header]
        if missing:
            raise AnnotationsError(
                f"{path}:1: header lacks column(s) {', '.join(missing)} (expected tab-separated "
                f"'clip_id', the tag names, 'mp3_path'; got {header[:3]}...)"
            )
        if header[0] != "clip_id" or header[-1] != "mp3_path":
            raise AnnotationsError(f"{path}:1: header must start with 'clip_id' and end 'mp3_path'")
        columns = header[1:-1]
        if not columns:
            raise AnnotationsError(f"{path}:1: header has no tag columns")
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise AnnotationsError(f"{path}:1: repeated tag column(s): {', '.join(dupes)}")
        n_fields = len(header)
        ids: list[int] = []
        paths: list[str] = []
        rows: list[list[str]] = []
        seen: set[int] = set()
        allowed = {"0", "1"}
        for row in reader:
            line = reader.line_num
            if not row or row == [""]:
                continue  # blank line (e.g. a trailing newline)
            if len(row) != n_fields:
                raise AnnotationsError(
                    f"{path}:{line}: malformed row: {len(row)} fields, expected {n_fields}"
                )
            try:
                cid = int(row[0])
            except ValueError:
                raise AnnotationsError(
                    f"{path}:{line}: malformed row: clip_id {row[0]!r} is not an integer"
                ) from None
            if cid in seen:
                raise AnnotationsError(f"{path}:{line}: clip_id {cid} appears twice")
            values = row[1:-1]
            if not allowed.issuperset(values):
                bad = next(v for v in values if v not in allowed)
                raise AnnotationsError(
                    f"{path}:{line}: malformed row: label {bad!r} is not 0 or 1 (clip {cid})"
                )
            mp3 = row[-1].strip()
            if not mp3:
                raise AnnotationsError(f"{path}:{line}: malformed row: empty mp3_path (clip {cid})")
            seen.add(cid)
            ids.append(cid)
            paths.append(mp3)
            rows.append(values)
    matrix = (
        (np.asarray(rows, dtype="U1") == "1").astype(np.uint8)
        if rows
        else np.zeros((0, len(columns)), dtype=np.uint8)
    )
    merged: dict[str, tuple[str, ...]] = {}
    if merge_synonyms:
        columns, matrix, merged = merge_synonym_columns(columns, matrix)
    counts = matrix.sum(axis=0).astype(np.int64)
    if top_k is not None and top_k > len(columns):
        raise ValueError(f"top_k={top_k} but {path} has only {len(columns)} tag columns")
    keep = top_k_columns(counts, top_k)
    kept = matrix[:, keep]
    clips = tuple(
        Clip(cid, p, tuple(int(v) for v in lab))
        for cid, p, lab in zip(ids, paths, kept.tolist(), strict=True)
    )
    return MTATAnnotations(
        root=root,
        tags=tuple(columns[i] for i in keep),
        clips=clips,
        tag_counts={c: int(n) for c, n in zip(columns, counts, strict=True)},
        columns=tuple(columns),
        merge_synonyms=merge_synonyms,
        merged=merged,
    )


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


SYNTHETIC_MARKER = "SYNTHETIC.json"
"""File written by ``training.data.synth`` at the root of a synthetic MTAT (never present in MTAT)."""


def write_synthetic_marker(root: str | Path, info: dict) -> None:
    """Mark ``root`` as a synthetic MTAT (with the generator's settings)."""
    import json

    (Path(root) / SYNTHETIC_MARKER).write_text(json.dumps({"synthetic": True, **info}, indent=2))


def dataset_kind(root: str | Path) -> str:
    """``"synthetic"`` for a root written by ``training.data.synth``, else ``"mtat"``."""
    return "synthetic" if (Path(root) / SYNTHETIC_MARKER).is_file() else "mtat"
