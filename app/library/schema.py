"""The library's one contract: its folder layout, the row schema of its table, its manifest.

A library is a folder (or object-store prefix) ``DIR`` holding::

    DIR/library.json     the manifest (:class:`LibraryManifest`): model, sizes, dates
    DIR/tracks.lance/    the LanceDB table :data:`TABLE` (rows of :func:`track_schema`)
    DIR/index.json       the ANN index as built, when there is one (app.library.search)

One row per source file, written by the build, read by ``python -m app library ...`` and the
service (``TAGGER_LIBRARY``). A file that could not be tagged is a row too: ``status`` is
``"error"``, ``error`` says why, the numeric columns are null.

Version 2 added ``chunk_embeddings`` (the chunks the clip embedding averages, pooled and float16:
:mod:`app.library.chunks`); a version-1 library is refused and has to be rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, Field

from tagging.files import atomic_write_text

TABLE = "tracks"
"""The LanceDB table of a library."""

MANIFEST = "library.json"
"""The manifest's file name in the library folder."""

LIBRARY_VERSION = 2
"""Version of this layout and schema (2: ``chunk_embeddings``)."""

Status = Literal["ok", "error"]


def track_id(path: str) -> str:
    """A row's stable id: the first 16 hex digits of the SHA-256 of its source path (as given:
    an absolute local path or a URI), so a rerun finds the same id for the same file."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


def track_schema(n_tags: int, embedding_size: int) -> pa.Schema:
    """The table's row schema for a model with ``n_tags`` outputs and ``embedding_size``-wide
    embeddings (fixed-size lists: LanceDB indexes ``embedding`` as a vector column; each row of
    ``chunk_embeddings`` is a list of such vectors, in float16)."""
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),  # track_id(path)
            pa.field("path", pa.string(), nullable=False),  # absolute local path or URI
            pa.field("rel_path", pa.string()),  # relative to the source root it was found under
            pa.field("size", pa.int64()),  # bytes
            pa.field("mtime", pa.float64()),  # seconds since the epoch (source file system)
            pa.field("content_hash", pa.string()),  # sha256 of the file's bytes
            pa.field("duration_s", pa.float32()),
            pa.field("model", pa.string(), nullable=False),
            pa.field("model_version", pa.string(), nullable=False),
            pa.field("probabilities", pa.list_(pa.float32(), n_tags)),  # card's tag order
            pa.field("labels", pa.list_(pa.string())),  # decided tags (null: no thresholds)
            pa.field("embedding", pa.list_(pa.float32(), embedding_size)),  # clip mean
            # (n, D): the clip's chunk embeddings, time order, pooled to at most the manifest's
            # chunk_embeddings rows (app.library.chunks.stored); null: none kept
            pa.field("chunk_embeddings", pa.list_(pa.list_(pa.float16(), embedding_size))),
            pa.field("status", pa.string(), nullable=False),  # Status
            pa.field("error", pa.string()),
            pa.field("tagged_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        ]
    )


class LibraryManifest(BaseModel):
    """``DIR/library.json``: which model built the library and what its rows hold."""

    library_version: int = LIBRARY_VERSION
    model: str = Field(description="The model (registry name) every row was tagged by.")
    model_version: str = Field(description="The model's version (tagging.card.ModelCard).")
    tags: list[str] = Field(description="Columns of `probabilities`, in order.")
    embedding_size: int = Field(gt=0, description="Width of the `embedding` column.")
    embedding_layer: str | None = Field(None, description="The card's embedding layer.")
    chunk_embeddings: int = Field(
        0,
        ge=0,
        description="Most rows of `chunk_embeddings` per track (chunks pooled to this many; a "
        "query's chunks are pooled the same way); 0: none kept, answers by the clip embedding.",
    )
    decision_policy: str | None = Field(None, description="Thresholds behind `labels`.")
    sources: list[str] = Field(default_factory=list, description="SOURCE arguments of builds.")
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def read(cls, folder: Path) -> LibraryManifest:
        return cls.model_validate(json.loads((folder / MANIFEST).read_text()))

    def write(self, folder: Path) -> None:
        atomic_write_text(folder / MANIFEST, self.model_dump_json(indent=2) + "\n")
