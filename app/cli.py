"""Command line: ``python -m app tag PATH...`` tags files in process through the service's own
:class:`app.tagger.Tagger` (decode -> chunk -> run -> aggregate), no server needed.

Settings come from the same ``TAGGER_*`` environment variables as the service (models directory,
providers, duration and size limits...). Bad files are reported one by one on stderr and the run
goes on; the exit status is 1 if any file failed, 2 for a usage error.

Decisions follow ``POST /predict``: ``--threshold-policy`` (the card's default, f1, unless told),
``--threshold`` for every tag. ``--write-tags`` writes each file's decided labels, the model and
its version into the file's own tags (:mod:`tagging.filetags`); ``--dry-run`` only says what
would change. A file whose model decides nothing is reported, not written; a file that cannot be
written is reported and the others are still written.

``python -m app library build|stats ...`` (:mod:`app.library.cli`) tags a whole library on Ray
Data into a LanceDB table.
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
from app.library.cli import add_parser as add_library_parser
from app.registry import LoadedModel, ModelRegistry
from app.results_file import TagRecord
from app.shaping import COMMAND_LINE, TagView, check_embedding, decision_rule
from app.tagger import Tagger
from tagging.decisions import POLICIES
from tagging.files import atomic_write_text
from tagging.filetags import FileTagError, TagResult, write_tags

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
    tag.add_argument(
        "--threshold-policy",
        choices=POLICIES,
        help="how labels are decided: f1 (per-tag thresholds of maximal F1), precision "
        "(per-tag thresholds of precision >= 0.8), none (probabilities only); default: the "
        "model card's (f1); a model without calibrated thresholds decides only with --threshold",
    )
    tag.add_argument(
        "--threshold", type=float, help="one threshold 0..1 for every tag (overrides the policy)"
    )
    tag.add_argument(
        "--labels-only",
        action="store_true",
        help="print only each file's decided labels (file, tab, labels joined by '; ')",
    )
    tag.add_argument("--format", choices=results_file.FORMATS, default="table")
    tag.add_argument(
        "--embedding",
        action="store_true",
        help="with --format json: also record each file's embedding (the model's penultimate "
        "features averaged over the clip's chunks, as POST /predict?embedding=true)",
    )
    tag.add_argument(
        "--out", type=Path, help="write results here (atomically); a rerun skips files in it"
    )
    tag.add_argument(
        "--jobs", type=int, default=0, help="files in flight at once (default: the usable cores)"
    )
    tag.add_argument(
        "--write-tags",
        action="store_true",
        help="write each file's labels, the model and its version into the file's tags "
        "(MTAT_LABELS, MTAT_MODEL, MTAT_MODEL_VERSION; MP3, FLAC, Ogg, Opus, M4A, WAV, AIFF)",
    )
    tag.add_argument(
        "--dry-run", action="store_true", help="with --write-tags: print what would change only"
    )
    tag.add_argument(
        "--genre",
        action="store_true",
        help="with --write-tags: also write the labels as the genre where the file has none",
    )
    tag.add_argument(
        "--overwrite-genre",
        action="store_true",
        help="with --genre: replace an existing genre too",
    )
    tag.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_library_parser(sub)  # python -m app library ... (app/library/cli.py)
    return parser


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse options that only make sense with another (argparse's usage error, status 2)."""
    if args.jobs < 0:
        parser.error("--jobs must be >= 0")
    for flag, needs, given in (
        ("--dry-run", "--write-tags", args.dry_run and not args.write_tags),
        ("--genre", "--write-tags", args.genre and not args.write_tags),
        ("--overwrite-genre", "--genre", args.overwrite_genre and not args.genre),
        ("--embedding", "--format json", args.embedding and args.format != "json"),
    ):
        if given:
            parser.error(f"{flag} needs {needs}")


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
        # The tags and decisions POST /predict would return for the same options.
        self.view = TagView.of(model.name, model.tags, args.all_tags, args.top_k, COMMAND_LINE)
        self.rule = decision_rule(model.card, args.threshold_policy, args.threshold, COMMAND_LINE)
        check_embedding(model.name, model.card, args.embedding, COMMAND_LINE)
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
        tags, labels, decision = self.view.decided(self.rule, result.probabilities)
        return TagRecord(
            str(path),
            self.model.name,
            result.duration_s,
            [(t.tag, t.probability) for t in tags],
            labels=labels,
            policy=decision.policy,
            thresholds=[t.threshold for t in tags],
            present=[t.present for t in tags],
            heard_s=result.heard_s,
            embedding=(
                [float(v) for v in result.embedding]
                if self.args.embedding and result.embedding is not None
                else None
            ),
        )

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

    def write_tags(self, files: list[Path]) -> int:
        """Write the decided labels of ``files`` (tagged now or already in --out) into the files
        themselves; each file's outcome on stderr. Returns how many files failed."""
        wanted = {os.path.abspath(f) for f in files}
        records = [
            r
            for r in self.results()
            if r.model == self.model.name and os.path.abspath(r.file) in wanted
        ]
        decided = [r for r in records if r.labels is not None]
        for r in records:
            if r.labels is None:
                why = self.rule.reason if r.policy else "no decision recorded in --out"
                print(f"not written: {r.file}: nothing decided ({why})", file=sys.stderr)
        failed = 0
        for r in decided:
            try:
                outcome = write_tags(
                    r.file,
                    r.labels or [],
                    self.model.name,
                    self.model.card.version,
                    genre=r.labels if self.args.genre else None,
                    overwrite_genre=self.args.overwrite_genre,
                    dry_run=self.args.dry_run,
                )
            except FileTagError as exc:
                failed += 1
                self.failed.append((Path(r.file), exc.reason))
                print(f"error: {r.file}: tags not written: {exc.reason}", file=sys.stderr)
            else:
                print(describe(r.file, outcome), file=sys.stderr)
        return failed

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


def describe(file: str, outcome: TagResult) -> str:
    """One line per file: what --write-tags changed (or would change, --dry-run)."""
    verb = "would change" if outcome.dry_run else "tagged"
    if not outcome.changed:
        line = f"unchanged: {file}: its {outcome.tag_format} tags already say so"
    else:
        changes = "; ".join(
            f"{c.key}: {' | '.join(c.old) or '(empty)'} -> {' | '.join(c.new) or '(removed)'}"
            for c in outcome.changes
        )
        line = f"{verb}: {file} ({outcome.tag_format}): {changes}"
    if outcome.genre_kept:
        line += f" (genre {' | '.join(outcome.genre_kept)!r} kept: --overwrite-genre replaces it)"
    return line


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
    if run.rule.reason:
        print(f"note: no labels: {run.rule.reason}", file=sys.stderr)
    try:
        asyncio.run(run.tag_all(todo, args.jobs or settings.cores))
    finally:
        tagger.close()
        if args.out:
            run.save()
    tag_failures = len(run.failed)
    if args.labels_only:
        for r in run.results():
            labels = "" if r.labels is None else results_file.LABEL_SEPARATOR.join(r.labels)
            sys.stdout.write(f"{r.file}\t{labels}\n")
    elif not args.out:
        sys.stdout.write(results_file.render(run.results(), args.format))
    if tag_failures:
        print(f"{tag_failures} of {len(todo)} file(s) failed", file=sys.stderr)
    if args.write_tags and (write_failures := run.write_tags(files)):
        print(f"tags not written to {write_failures} file(s)", file=sys.stderr)
    return 1 if run.failed or missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("app").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if args.command == "library":
        return args.run(args)
    check_options(parser, args)
    return tag(args)
