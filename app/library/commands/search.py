"""``python -m app library search --labels classical,strings [--exclude drums] --library DIR``:
tracks by their decided tags (or probabilities, for a library without decisions)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.config import Settings
from app.errors import ServiceError
from app.library.commands.query_common import open_library, print_matches


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="library tracks with all of some tags and none of others")
    p.add_argument("--labels", required=True, help="comma-separated tags a track must all have")
    p.add_argument("--exclude", default="", help="comma-separated tags a track must not have")
    p.add_argument("--limit", type=int, default=50, help="most tracks printed (default 50)")
    p.add_argument("--library", type=Path, required=True, help="the library's folder")
    p.add_argument("--json", action="store_true", help="a JSON list instead of text")
    p.set_defaults(run=run)


def split(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        library = open_library(args.library, Settings())
        result = library.search(split(args.labels), split(args.exclude), args.limit)
    except ServiceError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    print_matches(result.tracks, args.json)
    print(f"{result.total} tracks match, {len(result.tracks)} shown", file=sys.stderr)
    return 0
