"""``python -m app library build SOURCE... --library DIR``: see :mod:`app.library.build`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="tag folders, globs, manifests or object-store URIs into a library (Ray Data)",
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="folder (recursive), file, glob, manifest (CSV/Parquet with a 'path' column) or "
        "URI (s3://, gs://, file://: a prefix, an object or a glob)",
    )
    p.add_argument("--library", type=Path, required=True, help="the library's folder")
    p.add_argument("--model", help="model name (default: the library's, else the service's)")
    p.add_argument(
        "--ray-address",
        help="an existing Ray cluster (default: RAY_ADDRESS, else a local Ray on this machine)",
    )
    p.add_argument(
        "--actors", type=int, default=0, help="tagging actors (default: one per CPU or GPU)"
    )
    p.add_argument("--cpus-per-actor", type=int, default=1, help="CPUs of one actor (default 1)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="most files per actor call and per commit (default 16; smaller for small builds)",
    )
    p.add_argument(
        "--retry-errors", action="store_true", help="tag again the files that failed before"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from app.config import Settings
    from app.errors import ServiceError
    from app.library.build import BuildOptions, NoEmbeddingError, build

    for flag in ("actors", "cpus_per_actor", "batch_size"):
        if getattr(args, flag) < (0 if flag == "actors" else 1):
            print(f"error: --{flag.replace('_', '-')} is too small", file=sys.stderr)
            return 2
    options = BuildOptions(
        sources=args.sources,
        library=args.library.resolve(),
        model=args.model,
        ray_address=args.ray_address,
        actors=args.actors,
        cpus_per_actor=args.cpus_per_actor,
        batch_size=args.batch_size,
        retry_errors=args.retry_errors,
    )
    try:
        settings = Settings()
        summary = build(options, settings)
    except (ServiceError, NoEmbeddingError, ValueError) as exc:
        print(f"error: {exc.detail if isinstance(exc, ServiceError) else exc}", file=sys.stderr)
        return 2
    for source in summary.missing:
        print(f"error: {source}: no such file, folder, glob match or object", file=sys.stderr)
    print(summary.line(), file=sys.stderr)
    if summary.interrupted:
        return 130
    if summary.ok:
        index_after_build(options.library, settings)
    return 1 if summary.failed or summary.missing else 0


def index_after_build(folder: Path, settings: Settings) -> None:
    """Build (or rebuild) the ANN index when the library has grown enough for one
    (``TAGGER_LIBRARY_INDEX_MIN_ROWS``); smaller libraries are searched exactly."""
    from app.library.search import Library, QueryOptions

    info = Library(folder, QueryOptions.of(settings)).refresh_index()
    if info is not None:
        print(
            f"indexed {info.rows} tracks ({info.kind}, cosine) in {info.build_s:.1f} s",
            file=sys.stderr,
        )
