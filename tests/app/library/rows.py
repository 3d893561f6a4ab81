"""A library written row by row in the contract's schema (app.library.schema), for the query
tests: a real LanceDB table and manifest, with embeddings the test gives (real ones from an
ONNX session, or vectors for the query mechanics), and chunk embeddings when it gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

from app.library.chunks import stored
from app.library.schema import TABLE, LibraryManifest, track_id, track_schema


@dataclass
class Row:
    """One source file as the build would have tagged it (``embedding`` None: an error row)."""

    path: str
    embedding: np.ndarray | None  # (D,) float32
    probabilities: np.ndarray | None = None  # (K,)
    labels: list[str] | None = None
    duration_s: float = 30.0
    error: str | None = None
    rel_path: str | None = field(default=None)
    chunks: np.ndarray | None = None  # (n, D) float32: its chunk embeddings (None: none kept)


def write_library(
    folder: Path,
    rows: list[Row],
    tags: list[str],
    model: str = "alpha",
    version: str = "1",
    decision_policy: str | None = "f1",
    chunk_rows: int = 32,
) -> Path:
    """``folder/library.json`` + ``folder/tracks.lance`` holding ``rows``; rows' chunks pooled
    to ``chunk_rows`` (the manifest says 0, none kept, when no row has chunks)."""
    width = next(len(r.embedding) for r in rows if r.embedding is not None)
    schema = track_schema(len(tags), width)
    now = datetime.now(UTC)
    columns: dict[str, list] = {name: [] for name in schema.names}
    for r in rows:
        ok = r.embedding is not None
        values = {
            "id": track_id(r.path),
            "path": r.path,
            "rel_path": r.rel_path or Path(r.path).name,
            "size": 1000,
            "mtime": 0.0,
            "content_hash": "0" * 64,
            "duration_s": r.duration_s if ok else None,
            "model": model,
            "model_version": version,
            "probabilities": None if r.probabilities is None else list(map(float, r.probabilities)),
            "labels": r.labels,
            "embedding": None if not ok else list(map(float, r.embedding)),
            "chunk_embeddings": None
            if r.chunks is None or not ok
            else stored(r.chunks, chunk_rows).tolist(),
            "status": "ok" if ok else "error",
            "error": r.error,
            "tagged_at": now,
        }
        for name, value in values.items():
            columns[name].append(value)
    table = pa.Table.from_pydict(columns, schema=schema)
    folder.mkdir(parents=True, exist_ok=True)
    # The schema given: without it LanceDB would take any list column named *embedding* for a
    # vector (chunk_embeddings too). Error rows: null embeddings, kept as such.
    lancedb.connect(folder).create_table(
        TABLE, data=table, schema=schema, mode="overwrite", on_bad_vectors="null"
    )
    LibraryManifest(
        model=model,
        model_version=version,
        tags=list(tags),
        embedding_size=width,
        embedding_layer="dense1",
        decision_policy=decision_policy,
        chunk_embeddings=chunk_rows if any(r.chunks is not None for r in rows) else 0,
        sources=[str(folder)],
    ).write(folder)
    return folder
