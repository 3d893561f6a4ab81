"""``python -m app library stats --library DIR``: what a library holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="rows, failures, model, dates and size of a library")
    p.add_argument("--library", type=Path, required=True, help="the library's folder")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.set_defaults(run=run)


def library_stats(folder: Path) -> dict[str, object]:
    """Rows (ok, errors), model, embedding size, dates, sources and bytes on disk."""
    import lancedb

    from app.library.schema import TABLE
    from app.library.store import disk_size, existing_manifest

    manifest = existing_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(f"{folder} holds no library (no library.json)")
    table = lancedb.connect(str(folder)).open_table(TABLE)
    rows = table.count_rows()
    ok = table.count_rows("status = 'ok'")
    return {
        "library": str(folder),
        "rows": rows,
        "ok": ok,
        "errors": rows - ok,
        "model": manifest.model,
        "model_version": manifest.model_version,
        "tags": len(manifest.tags),
        "embedding_size": manifest.embedding_size,
        "decision_policy": manifest.decision_policy,
        "created": manifest.created.isoformat(),
        "updated": manifest.updated.isoformat(),
        "sources": manifest.sources,
        "table_version": table.version,
        "bytes_on_disk": disk_size(folder),
    }


def run(args: argparse.Namespace) -> int:
    try:
        stats = library_stats(args.library.resolve())
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    for key, value in stats.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        if key == "bytes_on_disk":
            shown = f"{int(value) / 2**20:.1f} MiB"  # type: ignore[call-overload]
        print(f"{key.replace('_', ' ')}: {shown}")
    return 0
