"""``python -m training prepare``: decode an MTAT root once into a 16 kHz training cache.

Every clip is decoded once (``tagging.audio.decode``: any rate/channels -> 16 kHz mono float32)
in parallel worker processes and stored as one int16 ``.npy`` per clip (scaled by 32767,
clipped), written atomically (temp file in the same folder, fsync, ``os.replace``). Training
then reads memory-mapped crops instead of decoding MP3s every epoch.

Resumable and never corrupt:

* ``journal.jsonl`` records every decoded clip (ok or failed, with the source file's size and
  mtime), appended only after the clip's ``.npy`` is on disk. A rerun skips every clip the
  journal (or an atomically written ``.npy``) already covers, so a killed prepare continues
  where it stopped and no clip is decoded twice; a clip is redone only if its mp3 changed.
* ``meta.json`` is deleted when a run starts and written last, atomically, after the split
  manifests; :class:`training.data.cache.ClipCache` refuses a cache without it.
* Changing ``top_k``/``merge_synonyms``/``clean`` only rebuilds the manifests (no decoding).

Files that are missing, empty, undecodable, or in ``constants.KNOWN_BROKEN_CLIPS`` are skipped
with a warning; the summary names each one and why.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tagging.audio import decode
from tagging.constants import SAMPLE_RATE
from tagging.files import atomic_write_text, atomic_write_with
from training.constants import KNOWN_BROKEN_CLIPS, SPLIT_FOLDERS
from training.data.cache import FORMAT_VERSION, INT16_SCALE, META_FILE, to_int16
from training.data.mtat import SPLITS, Clip, MTATAnnotations, read_annotations

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = ".prepare.lock"
AUDIO_DIR = "audio"
MTAT_CLIPS = 25_863
MTAT_CACHE_GB = 24
"""Full MTAT as int16 at 16 kHz: 25,863 clips x ~29.2 s x 16,000 x 2 bytes ~= 24 GB."""


@dataclass(frozen=True)
class SkippedClip:
    clip_id: int
    path: str
    reason: str


@dataclass
class PrepareSummary:
    """What a prepare run did; ``skipped`` names every clip left out of the cache and why."""

    cache_dir: str
    mtat_root: str
    tags: list[str]
    n_clips: int
    n_cached: int
    n_decoded: int
    n_reused: int
    skipped: list[SkippedClip] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    audio_hours: float = 0.0
    cache_bytes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        """Human-readable summary (one line per skipped file)."""
        lines = [
            f"prepared {self.n_cached}/{self.n_clips} clips into {self.cache_dir} "
            f"({self.n_decoded} decoded now, {self.n_reused} from earlier runs, "
            f"{self.seconds:.1f} s)",
            f"audio {self.audio_hours:.2f} h, cache {self.cache_bytes / 1e9:.3f} GB, "
            f"tags: {', '.join(self.tags)}",
            "splits: " + ", ".join(f"{k}={v}" for k, v in self.splits.items()),
            f"skipped {len(self.skipped)} file(s)" + (":" if self.skipped else ""),
        ]
        lines += [f"  {s.clip_id}\t{s.path}\t{s.reason}" for s in self.skipped]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Job:
    clip_id: int
    path: str
    src: str
    dst: str
    size: int
    mtime_ns: int


# ----------------------------------------------------------------------------- atomic files
def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json(path: Path, obj: dict) -> None:
    atomic_write_text(path, json.dumps(obj, separators=(",", ":")))


# ----------------------------------------------------------------------------- worker
def decode_clip(src: str, dst: str) -> tuple[int, str | None]:
    """Decode ``src`` to 16 kHz mono and store it as int16 ``dst``: ``(samples, error)``."""
    try:
        x = decode(src, SAMPLE_RATE)
    except Exception as exc:  # any decoder failure is a skipped clip, never a crash
        return 0, f"decode failed: {type(exc).__name__}: {exc}"
    if len(x) == 0:
        return 0, "decoded to no samples"
    y = to_int16(x)
    atomic_write_with(dst, lambda f: np.save(f, y))
    return len(x), None


def _run_jobs(
    jobs: Sequence[_Job],
    workers: int,
    on_done: Callable[[_Job, tuple[int, str | None]], None],
) -> None:
    """Run ``decode_clip`` for every job (in ``workers`` processes; in-process if <= 1).

    At most ``4 * workers`` jobs are in flight, so a kill loses little. If a worker process
    dies (a decoder crash), the jobs that were in flight are retried one at a time and the one
    that kills its worker again is recorded as failed.
    """
    if workers <= 1:
        for job in jobs:
            on_done(job, decode_clip(job.src, job.dst))
        return
    ctx = multiprocessing.get_context("spawn")  # safe even if the caller imported torch
    remaining: Iterator[_Job] = iter(jobs)
    suspects: list[_Job] = []
    while True:
        if suspects:
            # Isolate the crash: each suspect alone in a fresh single-worker pool.
            for job in suspects:
                with ProcessPoolExecutor(1, mp_context=ctx) as ex:
                    try:
                        result = ex.submit(decode_clip, job.src, job.dst).result()
                    except BrokenProcessPool:
                        result = (0, "decoder crashed (worker process died)")
                on_done(job, result)
            suspects = []
        ex = ProcessPoolExecutor(workers, mp_context=ctx)
        pending: dict = {}
        try:
            while not suspects:
                while len(pending) < 4 * workers:
                    job = next(remaining, None)
                    if job is None:
                        break
                    pending[ex.submit(decode_clip, job.src, job.dst)] = job
                if not pending:
                    ex.shutdown()
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        suspects = [job, *pending.values()]
                        break
                    on_done(job, result)
        except BaseException:
            ex.shutdown(wait=False, cancel_futures=True)
            raise
        log.warning("a decoder process died; retrying %d clip(s) one by one", len(suspects))
        ex.shutdown(wait=False, cancel_futures=True)


# ----------------------------------------------------------------------------- journal
def read_journal(cache_dir: Path) -> dict[int, dict]:
    """Latest journal entry per clip id; a torn last line (killed mid-write) is ignored."""
    path = cache_dir / JOURNAL_FILE
    entries: dict[int, dict] = {}
    if not path.is_file():
        return entries
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            try:
                e = json.loads(line)
                entries[int(e["clip_id"])] = e
            except (ValueError, KeyError, TypeError):
                log.debug("%s:%d: ignoring a torn journal line", path, n)
    return entries


class _Journal:
    """Append-only JSON lines, flushed per entry (fsync every 64 and on close)."""

    def __init__(self, path: Path) -> None:
        torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        if torn:
            self.f.write("\n")
        self.n = 0

    def append(self, entry: dict) -> None:
        self.f.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.f.flush()
        self.n += 1
        if self.n % 64 == 0:
            os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


# ----------------------------------------------------------------------------- prepare
def _npy_rel(clip: Clip) -> str:
    return f"{AUDIO_DIR}/{clip.folder}/{clip.clip_id}.npy"


def _npy_samples(path: Path) -> int | None:
    try:
        return int(np.load(path, mmap_mode="r").shape[0])
    except (OSError, ValueError):
        return None


def _cache_lock(cache_dir: Path):
    f = open(cache_dir / LOCK_FILE, "w")  # noqa: SIM115 (held for the run)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise RuntimeError(f"another prepare is writing {cache_dir}; wait for it") from None
    return f


def prepare(
    mtat_root: str | Path,
    cache_dir: str | Path,
    workers: int = 2,
    top_k: int = 10,
    merge_synonyms: bool = False,
    clean: bool = False,
    progress: bool = True,
) -> PrepareSummary:
    """Decode every clip of ``mtat_root`` into ``cache_dir`` and write the split manifests.

    Resumes an interrupted run (see the module docstring). ``workers`` decoder processes
    (``<= 1``: decode in this process). Returns a :class:`PrepareSummary`; nothing is raised
    for bad audio files, only for a bad annotations file or an unwritable cache.
    """
    t0 = time.perf_counter()
    mtat_root = Path(mtat_root).resolve()
    cache_dir = Path(cache_dir).resolve()
    ann = read_annotations(mtat_root, top_k=top_k, merge_synonyms=merge_synonyms)
    cache_dir.mkdir(parents=True, exist_ok=True)
    lock = _cache_lock(cache_dir)
    try:
        (cache_dir / META_FILE).unlink(missing_ok=True)  # the cache is incomplete from now on
        _fsync_dir(cache_dir)
        for tmp in (cache_dir / AUDIO_DIR).glob("*/.*.tmp"):  # leftovers of a killed run
            tmp.unlink(missing_ok=True)
        summary = _prepare_locked(ann, mtat_root, cache_dir, workers, clean, progress, t0)
    finally:
        lock.close()
    return summary


def _prepare_locked(
    ann: MTATAnnotations,
    mtat_root: Path,
    cache_dir: Path,
    workers: int,
    clean: bool,
    progress: bool,
    t0: float,
) -> PrepareSummary:
    """Plan (skip, reuse or decode each clip), decode, then write the manifests."""
    plan = _plan(ann, mtat_root, cache_dir)
    _decode(plan, cache_dir, workers, progress)
    for s in plan.skipped.values():
        log.warning("skipped clip %d (%s): %s", s.clip_id, s.path, s.reason)
    return _write_manifests(
        ann,
        mtat_root,
        cache_dir,
        plan.samples,
        plan.skipped,
        len(plan.jobs),
        plan.n_reused,
        clean,
        t0,
    )


@dataclass
class _Plan:
    """What a run does with each clip: decode it (``jobs``), reuse it (``samples``) or skip it."""

    jobs: list[_Job] = field(default_factory=list)
    samples: dict[int, int] = field(default_factory=dict)  # clip id -> decoded samples
    skipped: dict[int, SkippedClip] = field(default_factory=dict)
    adopted: list[dict] = field(default_factory=list)  # journal lines of adopted .npy files
    n_reused: int = 0


def _plan(ann: MTATAnnotations, mtat_root: Path, cache_dir: Path) -> _Plan:
    """Sort every clip of the annotations against the journal of earlier runs."""
    split_folders = set("".join(SPLIT_FOLDERS.values()))
    journal = read_journal(cache_dir)
    plan = _Plan()
    for clip in ann.clips:
        _plan_clip(plan, clip, mtat_root, cache_dir, journal, split_folders)
    return plan


def _unusable(
    clip: Clip, mtat_root: Path, split_folders: set[str]
) -> tuple[str | None, os.stat_result | None]:
    """``(reason, None)`` for a clip that cannot be decoded (folder, known broken, missing,
    empty), else ``(None, stat of its source file)``."""
    if clip.folder not in split_folders:
        return f"folder {clip.folder!r} is not one of 0..f", None
    if KNOWN_BROKEN_CLIPS.get(clip.clip_id) == clip.path:
        return "known broken MTAT file (empty in the download)", None
    try:
        st = (mtat_root / clip.path).stat()
    except OSError:
        return "missing file", None
    if st.st_size == 0:
        return "empty file (0 bytes)", None
    return None, st


def _plan_clip(
    plan: _Plan,
    clip: Clip,
    mtat_root: Path,
    cache_dir: Path,
    journal: dict[int, dict],
    split_folders: set[str],
) -> None:
    """Skip, reuse (journal entry of the same source file, or an adopted .npy) or queue a clip."""
    cid, rel = clip.clip_id, clip.path
    reason, st = _unusable(clip, mtat_root, split_folders)
    if reason is not None or st is None:
        plan.skipped[cid] = SkippedClip(cid, rel, str(reason))
        return
    dst = cache_dir / _npy_rel(clip)
    e = journal.get(cid)
    if (
        e is not None
        and e.get("path") == rel
        and e.get("size") == st.st_size
        and e.get("mtime_ns") == st.st_mtime_ns
    ):
        if e.get("status") == "failed":
            plan.skipped[cid] = SkippedClip(cid, rel, str(e.get("reason")))
            plan.n_reused += 1
            return
        if e.get("status") == "ok" and dst.is_file():
            plan.samples[cid] = int(e["samples"])
            plan.n_reused += 1
            return
    if e is None and dst.is_file():
        # Written atomically by a run killed before its journal line: complete, adopt it.
        n = _npy_samples(dst)
        if n:
            plan.samples[cid] = n
            plan.n_reused += 1
            plan.adopted.append(_entry(cid, rel, st.st_size, st.st_mtime_ns, n, None))
            return
    src = mtat_root / rel
    plan.jobs.append(_Job(cid, rel, str(src), str(dst), st.st_size, st.st_mtime_ns))


def _decode(plan: _Plan, cache_dir: Path, workers: int, progress: bool) -> None:
    """Journal the adopted files, decode the jobs (progress bar) and journal each result."""
    jobs, samples, skipped = plan.jobs, plan.samples, plan.skipped
    for folder in {Path(j.dst).parent for j in jobs}:
        folder.mkdir(parents=True, exist_ok=True)
    jr = _Journal(cache_dir / JOURNAL_FILE)
    try:
        for entry in plan.adopted:
            jr.append(entry)
        if jobs:
            log.info("decoding %d clip(s) with %d worker(s)", len(jobs), max(workers, 1))
        from tqdm import tqdm

        with tqdm(total=len(jobs), desc="prepare", unit="clip", disable=not progress) as bar:

            def on_done(job: _Job, result: tuple[int, str | None]) -> None:
                n, err = result
                jr.append(_entry(job.clip_id, job.path, job.size, job.mtime_ns, n, err))
                if err is None:
                    samples[job.clip_id] = n
                    skipped.pop(job.clip_id, None)
                else:
                    skipped[job.clip_id] = SkippedClip(job.clip_id, job.path, err)
                bar.update(1)

            _run_jobs(jobs, workers, on_done)
    finally:
        jr.close()


def _entry(cid: int, rel: str, size: int, mtime_ns: int, n: int, err: str | None) -> dict:
    return {
        "clip_id": cid,
        "path": rel,
        "size": size,
        "mtime_ns": mtime_ns,
        "status": "ok" if err is None else "failed",
        "samples": n,
        "reason": err,
    }


def _write_manifests(
    ann: MTATAnnotations,
    mtat_root: Path,
    cache_dir: Path,
    samples: dict[int, int],
    skipped: dict[int, SkippedClip],
    n_decoded: int,
    n_reused: int,
    clean: bool,
    t0: float,
) -> PrepareSummary:
    manifest_id = uuid.uuid4().hex
    splits: dict[str, int] = {}
    for name in SPLITS:
        clips = [c for c in ann.split(name, clean=clean) if c.clip_id in samples]
        _write_json(
            cache_dir / f"{name}.json",
            {
                "split": name,
                "manifest_id": manifest_id,
                "tags": list(ann.tags),
                "clip_ids": [c.clip_id for c in clips],
                "paths": [c.path for c in clips],
                "files": [_npy_rel(c) for c in clips],
                "labels": [list(c.labels) for c in clips],
                "lengths": [samples[c.clip_id] for c in clips],
            },
        )
        splits[name] = len(clips)
    cache_bytes = 0
    for c in ann.clips:
        if c.clip_id in samples:
            with contextlib.suppress(OSError):
                cache_bytes += (cache_dir / _npy_rel(c)).stat().st_size
    summary = PrepareSummary(
        cache_dir=str(cache_dir),
        mtat_root=str(mtat_root),
        tags=list(ann.tags),
        n_clips=len(ann.clips),
        n_cached=len(samples),
        n_decoded=n_decoded,
        n_reused=n_reused,
        skipped=sorted(skipped.values(), key=lambda s: s.clip_id),
        splits=splits,
        audio_hours=sum(samples.values()) / SAMPLE_RATE / 3600,
        cache_bytes=cache_bytes,
        seconds=time.perf_counter() - t0,
    )
    meta = {
        "format_version": FORMAT_VERSION,
        "complete": True,
        "manifest_id": manifest_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tags": list(ann.tags),
        "sample_rate": SAMPLE_RATE,
        "dtype": "int16",
        "scale": INT16_SCALE,
        "source_root": str(mtat_root),
        "options": {
            "top_k": len(ann.tags),
            "merge_synonyms": ann.merge_synonyms,
            "clean": clean,
        },
        "merged_synonyms": {k: list(v) for k, v in ann.merged.items()},
        "tag_counts": ann.tag_counts,
        "splits": splits,
        "split_folders": SPLIT_FOLDERS,
        "summary": summary.to_dict(),
    }
    _write_json(cache_dir / META_FILE, meta)  # last: the cache is complete from here on
    _fsync_dir(cache_dir)
    return summary


# ----------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Decode every MTAT clip once to 16 kHz mono int16 .npy files plus per-split manifests. "
        f"Full MTAT ({MTAT_CLIPS:,} clips of ~29 s) needs about {MTAT_CACHE_GB} GB of disk. "
        "Resumable: rerun the same command after an interruption; changing --top-k, "
        "--merge-synonyms or --clean only rebuilds the manifests."
    )
    parser.add_argument(
        "--mtat-root",
        type=Path,
        required=True,
        help="folder with annotations_final.csv and the mp3 folders 0..f",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        required=True,
        help=f"output cache folder (~{MTAT_CACHE_GB} GB for full MTAT)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="decoder processes (default: all CPU cores)",
    )
    parser.add_argument("--top-k", type=int, default=10, help="keep the K most frequent tags")
    parser.add_argument(
        "--merge-synonyms",
        action="store_true",
        help="merge MTAT's known synonym tags before picking the top K "
        "(off by default, to compare with the literature)",
    )
    parser.add_argument(
        "--clean", action="store_true", help="keep only clips with at least one of the kept tags"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    if args.top_k < 1:
        raise SystemExit("--top-k must be at least 1")
    try:
        summary = prepare(
            args.mtat_root,
            args.cache,
            workers=args.workers,
            top_k=args.top_k,
            merge_synonyms=args.merge_synonyms,
            clean=args.clean,
            progress=not args.no_progress,
        )
    except (ValueError, RuntimeError) as exc:
        raise SystemExit(f"prepare: {exc}") from exc
    print(summary.format())
    return 0
