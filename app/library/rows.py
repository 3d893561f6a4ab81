"""One file's outcome -> one row of the library's table (:func:`app.library.schema.track_schema`).

A tagged file gives its probabilities (the card's tag order), the labels the model's default
decision policy decides (:func:`tagging.decisions.rule_for`, as ``POST /predict`` without
options; null when the model has no thresholds), its embedding (the clip mean, as the
probabilities) and its chunk embeddings (the rows of that mean in time order, pooled to at most
:attr:`RowModel.chunk_rows` and kept in float16: :func:`app.library.chunks.stored`). A file that
could not be read or tagged gives a row with ``status = "error"`` and the reason, its numeric
columns null.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from app.library.chunks import stored
from app.library.schema import track_id
from app.tagger import TagResult
from tagging.decisions import DecisionRule


@dataclass(frozen=True)
class RowModel:
    """What every row repeats about the model, and how its labels are decided."""

    name: str
    version: str
    tags: list[str]
    rule: DecisionRule
    chunk_rows: int = 0  # most chunk embeddings kept per track (the manifest's); 0: none


def _base(entry: dict[str, Any], model: RowModel) -> dict[str, Any]:
    return {
        "id": track_id(entry["path"]),
        "path": entry["path"],
        "rel_path": entry["rel_path"],
        "size": int(entry["size"]),
        "mtime": float(entry["mtime"]),
        "model": model.name,
        "model_version": model.version,
        "tagged_at": datetime.now(UTC),
    }


def ok_row(entry: dict[str, Any], data: bytes, result: TagResult, model: RowModel) -> dict:
    """The row of a tagged file (``data``: its bytes, hashed)."""
    probs = np.asarray(result.probabilities, dtype=np.float32)  # (K,)
    present = model.rule.present(probs)
    labels = None
    if present is not None:
        labels = model.rule.labels(model.tags, range(len(model.tags)), probs)
    embedding = result.embedding
    if embedding is None or not (np.isfinite(probs).all() and np.isfinite(embedding).all()):
        why = "no embedding" if embedding is None else "the model returned NaN or infinity"
        return error_row(entry, f"{why} (model {model.name})", model, data)
    chunks = None
    if model.chunk_rows > 0 and result.chunk_embeddings is not None:
        chunks = stored(result.chunk_embeddings, model.chunk_rows).tolist()  # (<= chunk_rows, D)
    return {
        **_base(entry, model),
        "content_hash": hashlib.sha256(data).hexdigest(),
        "duration_s": float(result.duration_s),
        "probabilities": probs.tolist(),
        "labels": labels,
        "embedding": np.asarray(embedding, np.float32).tolist(),  # (D,)
        "chunk_embeddings": chunks,
        "status": "ok",
        "error": None,
    }


def error_row(entry: dict[str, Any], why: str, model: RowModel, data: bytes | None) -> dict:
    """The row of a file that could not be read (``data`` None) or tagged."""
    return {
        **_base(entry, model),
        "content_hash": None if data is None else hashlib.sha256(data).hexdigest(),
        "duration_s": None,
        "probabilities": None,
        "labels": None,
        "embedding": None,
        "chunk_embeddings": None,
        "status": "error",
        "error": why,
    }


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts with every column of ``schema``) -> an Arrow table of ``schema``."""
    return pa.Table.from_pylist(rows, schema=schema)
