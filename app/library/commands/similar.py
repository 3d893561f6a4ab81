"""``python -m app library similar FILE|--id ID [-k N] --library DIR``: "more like this".

FILE is tagged in process with the library's model through the service's own pipeline
(:meth:`app.tagger.Tagger.tag`, same limits as the service: ``TAGGER_*``); ``--id`` takes a
track of the library instead. Prints the k nearest tracks, as ``POST /similar`` answers them
(:meth:`app.library.search.Library.nearest`: candidates by clip embedding, re-ranked by chunk
matching when the library keeps chunk embeddings and ``TAGGER_LIBRARY_RERANK`` > 0).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from app.config import Settings
from app.errors import ServiceError
from app.library.commands.query_common import open_library, print_matches
from app.library.search import Library, Match


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("similar", help="the library tracks nearest to a file or a track")
    p.add_argument("file", nargs="?", type=Path, metavar="FILE", help="an audio file to query")
    p.add_argument("--id", help="a track id of the library to query instead of FILE")
    p.add_argument("-k", type=int, default=10, help="neighbours to print (default 10)")
    p.add_argument("--library", type=Path, required=True, help="the library's folder")
    p.add_argument("--json", action="store_true", help="a JSON list instead of text")
    p.set_defaults(run=run)


def embed_file(
    path: Path, library: Library, settings: Settings
) -> tuple[np.ndarray, np.ndarray | None]:
    """The clip embedding ((D,) float32) and chunk embeddings ((n, D)) of ``path`` by the
    library's model; errors are :class:`app.errors.ServiceError` (the model check, the file's
    own problems)."""
    from app.registry import ModelRegistry
    from app.tagger import Tagger

    registry = ModelRegistry(settings)
    model = registry.get(library.manifest.model)
    library.check_model(model.name, model.card.version, model.embedding_size or 0)
    tagger = Tagger(settings, registry)
    data = path.read_bytes()
    try:
        # A thread of its own: callable from code that already runs an event loop (a notebook).
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(asyncio.run, tagger.tag(data, model)).result()
    finally:
        tagger.close()
    assert result.embedding is not None  # check_model: the width is the library's (> 0)
    return result.embedding, result.chunk_embeddings


def query(args: argparse.Namespace, settings: Settings) -> list[Match]:
    library = open_library(args.library, settings)
    if args.id is not None:
        return library.similar_to(args.id, args.k)
    m = library.manifest
    vector, chunks = embed_file(args.file, library, settings)
    return library.nearest(vector, args.k, m.model, m.model_version, chunks=chunks)


def run(args: argparse.Namespace) -> int:
    if (args.file is None) == (args.id is None):
        print("error: give either FILE or --id ID", file=sys.stderr)
        return 2
    if args.k < 1:
        print("error: -k must be at least 1", file=sys.stderr)
        return 2
    try:
        matches = query(args, Settings())
    except ServiceError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    print_matches(matches, args.json)
    return 0
