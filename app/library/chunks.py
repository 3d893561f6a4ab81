"""Chunk embeddings: a track's chunks, kept in a bounded number, matched to a query's chunks.

A clip embedding is the mean of its chunks' embeddings (:meth:`app.tagger.Tagger.tag`)
and finds candidates in the library. The chunks themselves then re-rank those candidates by late
interaction, the "MaxSim" of ColBERT (Khattab & Zaharia 2020, SIGIR, "ColBERT: Efficient and
Effective Passage Search via Contextualized Late Interaction over BERT"): each chunk of the query
is matched with its most similar chunk of the track, and::

    distance(query, track) = 1 - mean over query chunks q of (max over track chunks t of cos(q, t))

0 when every query chunk has a chunk of the same direction in the track, at most 2. A copy of a
part of a recording (cut, re-encoded) keeps chunks close to some of the original's, while its
clip mean moves towards other tracks of the same style.

* :func:`pool` bounds what a long recording keeps: the means of ``max_rows`` consecutive,
  near-equal groups of its chunks, time order kept. The build stores its tracks pooled so
  (:func:`stored`, float16) and a query is pooled with the same number (the library manifest's
  ``chunk_embeddings``) before matching.
* :func:`maxsim_distances`: one query against many candidates, in one matrix product.
* :func:`from_arrow`: the table's ``chunk_embeddings`` column back to arrays.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

FLOAT16_MAX = float(np.finfo(np.float16).max)  # 65504


def pool(chunks: np.ndarray, max_rows: int) -> np.ndarray:
    """``(n, D)`` chunk embeddings -> ``(min(n, max_rows), D)`` float32: the means of consecutive
    groups of ``n / max_rows`` chunks (sizes differ by at most one), in time order; the chunks
    unchanged when there are at most ``max_rows`` of them."""
    chunks = np.asarray(chunks, dtype=np.float32)
    n = len(chunks)
    rows = min(n, max(0, max_rows))
    if rows == n:
        return chunks
    if rows == 0:
        return chunks[:0]
    bounds = (np.arange(rows + 1) * n) // rows  # group g: chunks bounds[g] .. bounds[g + 1] - 1
    sums = np.add.reduceat(chunks, bounds[:-1], axis=0)  # (rows, D)
    return sums / np.diff(bounds)[:, None].astype(np.float32)


def stored(chunks: np.ndarray, max_rows: int) -> np.ndarray:
    """What the table keeps of a track's chunks: :func:`pool` ed to ``max_rows``, float16 (half
    the disk of float32; clipped to its range, an embedding beyond 65504 being no direction a
    cosine could tell apart anyway)."""
    return np.clip(pool(chunks, max_rows), -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; an all-zero row stays zero (cosine 0 with everything)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def maxsim_distances(query: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    """``(C,)`` float32: 1 - MaxSim of ``query`` ``(nq, D)`` with each candidate ``(nc_i, D)``
    (the mean over the query's chunks of their best cosine with the candidate's chunks), in
    0..2. A candidate with no chunks gets 2, the farthest. One product of the query with all
    the candidates' rows stacked, then the maximum within each candidate's block of rows."""
    q = _unit_rows(np.asarray(query, dtype=np.float32))  # (nq, D)
    if len(q) == 0:
        raise ValueError("the query has no chunk embeddings")
    sizes = np.array([len(c) for c in candidates], dtype=np.int64)  # (C,)
    out = np.full(len(candidates), 2.0, dtype=np.float32)
    full = np.flatnonzero(sizes)  # candidates with at least one chunk (reduceat needs rows)
    if len(full) == 0:
        return out
    rows = _unit_rows(np.concatenate([candidates[i] for i in full]).astype(np.float32))  # (N, D)
    # einsum, not `rows @ q.T`: numpy's BLAS spreads a product this size over its threads, whose
    # wake-up on a busy 2-core machine took 5-150 ms at p95 (50 candidates x 16 chunks); the
    # single-threaded einsum took 0.3 ms (1 ms at 32 x 32 chunks), steadily.
    cos = np.einsum("nd,qd->nq", rows, q)  # (N, nq)
    starts = np.concatenate([[0], np.cumsum(sizes[full])[:-1]])  # first row of each candidate
    best = np.maximum.reduceat(cos, starts, axis=0)  # (C', nq): each query chunk's best match
    out[full] = np.clip(1.0 - best.mean(axis=1), 0.0, 2.0)
    return out


def from_arrow(column: pa.Array | pa.ChunkedArray) -> list[np.ndarray]:
    """The ``chunk_embeddings`` column (``list<fixed_size_list<float16, D>>``) -> one
    ``(n_i, D)`` float32 array per row; a null row gives ``(0, D)``."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    dim = column.type.value_type.list_size
    values = column.flatten().flatten().to_numpy(zero_copy_only=False)  # null rows hold none
    rows = values.astype(np.float32).reshape(-1, dim)  # (sum n_i, D)
    lengths = column.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)  # (rows,)
    return list(np.split(rows, np.cumsum(lengths)[:-1])) if len(lengths) else []
