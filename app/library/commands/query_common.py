"""What the query subcommands share: opening ``--library`` and printing matches."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from app.config import Settings
from app.library.search import Library, Match, QueryOptions


def open_library(folder: Path, settings: Settings) -> Library:
    """``folder`` read-only, with the ``TAGGER_LIBRARY_*`` query settings."""
    return Library(folder.resolve(), QueryOptions.of(settings))


def print_matches(matches: list[Match], as_json: bool) -> None:
    """One line per track (rank, distance or score, path, labels, id), or a JSON list."""
    if as_json:
        print(json.dumps([asdict(m) for m in matches], indent=2))
        return
    for rank, m in enumerate(matches, 1):
        value = f"{m.distance:.4f}" if m.distance is not None else f"{m.score or 0:.3f}"
        labels = ", ".join(m.labels) if m.labels else "-"
        print(f"{rank:>3}  {value}  {m.path}  [{labels}]  {m.id}")
