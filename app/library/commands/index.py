"""``python -m app library index --library DIR [--force] [--kind IVF_PQ|IVF_HNSW_SQ]``: build
the library's ANN index (cosine); without ``--force`` only from TAGGER_LIBRARY_INDEX_MIN_ROWS
tracks on (below it exact search is fast enough)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.config import Settings
from app.errors import ServiceError
from app.library.commands.query_common import open_library


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build the ANN index of a library")
    p.add_argument("--library", type=Path, required=True, help="the library's folder")
    p.add_argument("--force", action="store_true", help="build it whatever the size (>= 256)")
    p.add_argument("--kind", choices=["IVF_PQ", "IVF_HNSW_SQ"], help="default: the setting's")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        library = open_library(args.library, settings)
        info = library.build_index(force=args.force, kind=args.kind)
    except ServiceError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    if info is None:
        rows = library.count("status = 'ok'")
        floor = 256 if args.force else max(256, settings.library_index_min_rows)
        print(
            f"no index built: {rows} tracks, fewer than {floor} (exact search answers; "
            "--force builds one from 256 tracks)",
            file=sys.stderr,
        )
        return 0
    print(json.dumps(info.to_json(), indent=2))
    return 0
