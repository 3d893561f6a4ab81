"""Descriptors of many clips: decoded and computed in worker processes, cached in a CSV."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from tagging.constants import SAMPLE_RATE
from tagging.files import atomic_write_text
from training.study.descriptors import DESCRIPTOR_NAMES

log = logging.getLogger(__name__)


def _descriptor_job(path: str) -> tuple[str, dict[str, float] | None, str | None]:
    """Worker: decode one file at 16 kHz and compute its descriptors (errors are returned)."""
    from tagging.audio import decode
    from training.study.descriptors import compute_descriptors

    try:
        return path, compute_descriptors(decode(path, SAMPLE_RATE)), None
    except Exception as exc:  # noqa: BLE001 - a bad clip must not stop the study
        return path, None, f"{type(exc).__name__}: {exc}"


def _read_descriptor_cache(path: Path) -> dict[int, tuple[str, dict[str, float]]]:
    if not path.is_file():
        return {}
    out: dict[int, tuple[str, dict[str, float]]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not set(DESCRIPTOR_NAMES) <= set(reader.fieldnames):
            log.info("descriptor cache %s lacks columns; recomputing", path)
            return {}
        for row in reader:
            try:
                out[int(row["clip_id"])] = (
                    row["mp3_path"],
                    {n: float(row[n]) for n in DESCRIPTOR_NAMES},
                )
            except (KeyError, ValueError):
                continue
    return out


def _write_descriptor_cache(path: Path, rows: dict[int, tuple[str, dict[str, float]]]) -> None:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["clip_id", "mp3_path", *DESCRIPTOR_NAMES])
    for cid in sorted(rows):
        p, d = rows[cid]
        w.writerow([cid, p, *(repr(d[n]) for n in DESCRIPTOR_NAMES)])
    atomic_write_text(path, out.getvalue())


def compute_clip_descriptors(
    root: Path,
    clip_ids: Sequence[int],
    rel_paths: Sequence[str],
    cache_csv: Path,
    workers: int = 2,
    progress: bool = True,
) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """Descriptors ``(N, D)`` for the clips (NaN rows for failures) and the failures list.

    Results are cached in ``cache_csv`` keyed by clip id and path: a rerun computes only
    what is missing. Work runs in ``workers`` spawned processes with a tqdm bar.
    """
    from tqdm import tqdm

    cache = _read_descriptor_cache(cache_csv)
    todo = [
        (cid, p)
        for cid, p in zip(clip_ids, rel_paths, strict=True)
        if cid not in cache or cache[cid][0] != p
    ]
    failures: list[tuple[int, str, str]] = []
    if todo:
        log.info(
            "computing descriptors of %d clips (%d cached)", len(todo), len(clip_ids) - len(todo)
        )
        by_path = {str(root / p): (cid, p) for cid, p in todo}
        jobs = list(by_path)
        bar = tqdm(total=len(jobs), desc="descriptors", unit="clip", disable=not progress)
        if workers <= 1 or len(jobs) < 4:
            results = (_descriptor_job(j) for j in jobs)
            executor = None
        else:
            import multiprocessing as mp

            executor = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
            results = executor.map(_descriptor_job, jobs, chunksize=4)
        try:
            for done, (path, desc, err) in enumerate(results, start=1):
                cid, rel = by_path[path]
                if desc is None:
                    failures.append((cid, rel, err or "unknown error"))
                    log.warning("clip %d (%s) skipped: %s", cid, rel, err)
                else:
                    cache[cid] = (rel, desc)
                bar.update(1)
                if done % 500 == 0:
                    _write_descriptor_cache(cache_csv, cache)
        finally:
            bar.close()
            if executor is not None:
                executor.shutdown()
        _write_descriptor_cache(cache_csv, cache)
    x = np.full((len(clip_ids), len(DESCRIPTOR_NAMES)), np.nan)
    for i, cid in enumerate(clip_ids):
        if cid in cache and cache[cid][0] == rel_paths[i]:
            x[i] = [cache[cid][1][n] for n in DESCRIPTOR_NAMES]
    return x, failures
