"""Command line: ``python -m app tag PATH...`` tags files in process through the service's own
:class:`app.tagger.Tagger` (decode -> chunk -> run -> aggregate), no server needed.

Settings come from the same ``TAGGER_*`` environment variables as the service (models directory,
providers, duration and size limits...). Bad files are reported one by one on stderr and the run
goes on; the exit status is 1 if any file failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import logging
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from app import results_file
from app.config import Settings
from app.errors import ServiceError
from app.registry import LoadedModel, ModelRegistry
from app.results_file import TagRecord
from app.routers.predict import tag_columns
from app.tagger import Tagger, ranked, top_k
from tagging.files import atomic_write_text

AUDIO_SUFFIXES = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au", ".caf"}
    | {".w64", ".m4a", ".aac", ".wma", ".mp2"}
)
"""Files picked up when walking a folder (a file named on the command line is always tried)."""

CHECKPOINT_S = 10.0
"""How often a long run rewrites ``--out`` (atomically), so an interrupted run can resume."""

log = logging.getLogger("app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    tag = sub.add_parser("tag", help="tag audio files, folders (recursively) and globs")
    tag.add_argument("paths", nargs="+", metavar="PATH", help="audio file, folder or glob")
    tag.add_argument("--model", help="model name (default: the service's default model)")
    tag.add_argument(
        "--all-tags",
        action="store_true",
        help="rank all of the model's tags (50 for the MTAT top-50 models), not the project's ten",
    )
    tag.add_argument("--top-k", type=int, help="tags per file (default: all ranked)")
    tag.add_argument("--format", choices=results_file.FORMATS, default="table")
    tag.add_argument(
        "--out", type=Path, help="write results here (atomically); a rerun skips files in it"
    )
    tag.add_argument(
        "--jobs", type=int, default=0, help="files in flight at once (default: the usable cores)"
    )
    tag.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def find_audio(paths: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Files to tag from files, folders (recursively, audio suffixes only) and globs, in order
    and without repeats; and the arguments that matched nothing."""
    found: dict[Path, None] = {}
    missing = []
    for arg in paths:
        path = Path(arg)
        matches = (
            [path] if path.exists() else [Path(p) for p in sorted(glob.glob(arg, recursive=True))]
        )
        if not matches:
            missing.append(arg)
        for match in matches:
            if match.is_dir():
                for f in sorted(match.rglob("*")):
                    if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES:
                        found.setdefault(f)
            else:
                found.setdefault(match)
    return list(found), missing


class Run:
    """One ``tag`` command: files in flight through the tagger, results and failures kept."""

    def __init__(self, args: argparse.Namespace, tagger: Tagger, model: LoadedModel) -> None:
        self.args = args
        self.tagger = tagger
        self.model = model
        self.columns, _ = tag_columns(model.tags, args.all_tags)  # as POST /predict ranks
        self.tags = [model.tags[i] for i in self.columns]
        self.k = top_k(args.top_k, model, len(self.tags), "--top-k", "--all-tags")
        self.previous: list[TagRecord] = []  # already in --out
        self.records: list[TagRecord] = []  # tagged now, in the order they finish
        self.failed: list[tuple[Path, str]] = []
        self._written = time.monotonic()
        self.order: list[str] = []

    async def tag_file(self, path: Path) -> TagRecord:
        """One file through decode -> chunk -> run -> aggregate (ServiceError/OSError if bad)."""
        limit = self.tagger.settings.max_upload_bytes
        size = path.stat().st_size
        if size > limit:
            raise ServiceError(
                f"file is {size / 2**20:.1f} MiB, more than the limit of {limit / 2**20:.1f} MiB "
                "(TAGGER_MAX_UPLOAD_MB)"
            )
        data = await asyncio.to_thread(path.read_bytes)
        result = await self.tagger.tag(data, self.model)
        tags = ranked(self.tags, result.probabilities[self.columns], self.k)
        return TagRecord(str(path), self.model.name, result.duration_s, tags)

    async def worker(self, queue: asyncio.Queue[Path], bar: object) -> None:
        while not queue.empty():
            path = queue.get_nowait()
            try:
                self.records.append(await self.tag_file(path))
            except (ServiceError, OSError) as exc:
                self.fail(path, exc.detail if isinstance(exc, ServiceError) else str(exc), bar)
            except Exception as exc:  # a bug must not lose the other files' results
                log.debug("tagging %s failed", path, exc_info=True)
                self.fail(path, f"{type(exc).__name__}: {exc}", bar)
            bar.update(1)  # type: ignore[attr-defined]
            if self.args.out and time.monotonic() - self._written > CHECKPOINT_S:
                self.save()

    def fail(self, path: Path, why: str, bar: object) -> None:
        self.failed.append((path, why))
        bar.write(f"error: {path}: {why}", file=sys.stderr)  # type: ignore[attr-defined]

    def results(self) -> list[TagRecord]:
        """What was in --out, then this run's files in the order they were named."""
        order = {r: i for i, r in enumerate(self.order)}
        return self.previous + sorted(self.records, key=lambda r: order.get(r.file, len(order)))

    def save(self) -> None:
        text = results_file.render(self.results(), self.args.format)
        atomic_write_text(self.args.out, text)
        self._written = time.monotonic()

    async def tag_all(self, files: list[Path], jobs: int) -> None:
        from tqdm import tqdm

        self.order = [str(f) for f in files]
        queue: asyncio.Queue[Path] = asyncio.Queue()
        for f in files:
            queue.put_nowait(f)
        self.tagger.start()
        with tqdm(
            total=len(files), unit="file", file=sys.stderr, disable=len(files) < 2, desc="tagging"
        ) as bar:
            await asyncio.gather(*(self.worker(queue, bar) for _ in range(min(jobs, len(files)))))


def tag(args: argparse.Namespace) -> int:
    settings = Settings()
    files, missing = find_audio(args.paths)
    for arg in missing:
        print(f"error: {arg}: no such file, folder or glob match", file=sys.stderr)
    if not files and not missing:
        print(
            "error: no audio files found (folders are searched for "
            f"{' '.join(sorted(AUDIO_SUFFIXES))})",
            file=sys.stderr,
        )
        return 1
    registry = ModelRegistry(settings)
    tagger = Tagger(settings, registry)
    try:
        model = registry.get(args.model or registry.choose_default())
        previous = results_file.read(args.out, args.format) if args.out else []
        run = Run(args, tagger, model)
    except (ServiceError, ValueError) as exc:
        print(f"error: {exc.detail if isinstance(exc, ServiceError) else exc}", file=sys.stderr)
        return 2
    done = {r.key() for r in previous}
    todo = [f for f in files if (os.path.abspath(f), model.name) not in done]
    if len(todo) < len(files):
        print(f"{len(files) - len(todo)} file(s) already in {args.out}: skipped", file=sys.stderr)
    run.previous = previous
    try:
        asyncio.run(run.tag_all(todo, args.jobs or settings.cores))
    finally:
        tagger.close()
        if args.out:
            run.save()
    if not args.out:
        sys.stdout.write(results_file.render(run.results(), args.format))
    if run.failed:
        print(f"{len(run.failed)} of {len(todo)} file(s) failed", file=sys.stderr)
    return 1 if run.failed or missing else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.jobs < 0:
        build_parser().error("--jobs must be >= 0")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("app").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    return tag(args)
