"""Similarity benchmark: ANN queries of a big library against exact search.

``nice python -m benchmarks.similarity [--rows 1000000] [--dim D] [--chunks 16] --out DIR``

1. Writes ``--rows`` synthetic tracks in the library's schema (:mod:`app.library.schema`) into
   ``--work/<rows>x<dim>-latent<L>-chunks<N>/<kind>`` (kept: a rerun reuses the table and its
   index; ``--rebuild`` starts over). The vectors imitate a tagger's penultimate layer: ReLU
   outputs (non-negative, about half zero) around 2,000 "styles" whose sizes follow Zipf's law,
   not a uniform cloud. Each track keeps ``--chunks`` chunk embeddings (its vector plus noise
   per chunk, float16, as the build keeps them), the column the service re-ranks by.
2. Builds the ANN index with :meth:`app.library.search.Library.build_index` (time, disk size).
3. Runs ``--queries`` held-out vectors of the same distribution, each with its own chunks,
   through :meth:`~app.library.search.Library.nearest` (the service's query path: candidates by
   the vector, the best ``--rerank`` of them re-ranked by chunk matching), one at a time, for
   each ``nprobes`` x ``refine_factor``: latency p50/p95 (the re-rank included) and recall@k
   against the same two stages done exactly in numpy (a brute-force cosine top ``rerank``, then
   MaxSim over their chunks; with ``--chunks 0`` or ``--rerank 0``: the cosine top-k).

The embedding width defaults to the default model's card (``embedding.size``) when it has one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa

from app.config import DEFAULT_MODEL, DEFAULT_MODELS_DIR
from app.library.chunks import maxsim_distances
from app.library.schema import TABLE, LibraryManifest, track_id, track_schema
from app.library.search import Library, QueryOptions, refine_per_row

STYLES = 2_000
BATCH = 100_000  # vectors drawn per seed
SUB = 10_000  # rows per written record batch (their chunks: SUB x chunks x dim float16)
CHUNK_NOISE = 0.5  # a chunk = its track's vector + this x the vector's RMS x N(0, 1) noise
MODEL, VERSION = "synthetic", "1"


def default_card() -> dict:
    return json.loads((DEFAULT_MODELS_DIR / DEFAULT_MODEL / "card.json").read_text())


def default_dim() -> int:
    """The default model's embedding width (its card's ``embedding.size``), else 200 (the
    width of won_musicnn's dense1, the layer before its output)."""
    return int((default_card().get("embedding") or {}).get("size") or 200)


class Vectors:
    """The synthetic distribution. Learned features lie near a low-dimensional manifold (the
    last layers of trained CNNs have intrinsic dimension ~10-40: Ansuini et al. 2019, "Intrinsic
    dimension of data representations in deep neural networks"), in clusters of uneven size.
    So: a latent z in ``latent`` dimensions around one of :data:`STYLES` centres (style sizes
    follow Zipf's law, spreads differ), mapped by a fixed random layer ``ReLU(W z + b)`` to
    ``dim`` non-negative features (like the ReLU outputs of a penultimate layer), plus small
    isotropic noise. ``latent=0``: the clusters live in all ``dim`` directions (a harder, less
    realistic case)."""

    def __init__(self, dim: int, latent: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.latent = dim, latent
        width = latent or dim
        self.centres = rng.normal(size=(STYLES, width)).astype(np.float32)
        weight = 1.0 / np.arange(1, STYLES + 1)
        self.p = weight / weight.sum()
        self.spread = rng.uniform(0.2, 0.6, STYLES).astype(np.float32)  # tight and loose styles
        self.w = (rng.normal(size=(width, dim)) / np.sqrt(width)).astype(np.float32)
        self.b = rng.normal(0, 0.3, dim).astype(np.float32)

    def draw(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        style = rng.choice(STYLES, size=n, p=self.p)
        width = self.latent or self.dim
        z = self.centres[style] + self.spread[style, None] * rng.normal(size=(n, width))
        x = np.maximum(z.astype(np.float32) @ self.w + self.b, 0.0)
        return (x + 0.02 * rng.normal(size=x.shape)).astype(np.float32)


def chunks_for(x: np.ndarray, per_row: int, start: int) -> np.ndarray:
    """(n, per_row, dim) float16: the chunk embeddings of rows ``start`` .. ``start + n - 1``
    whose vectors are ``x`` (n, dim): each vector plus Gaussian noise of :data:`CHUNK_NOISE`
    times its RMS, drawn from a seed of ``start`` (the same rows give the same chunks again)."""
    rng = np.random.default_rng((2, start))
    noise = rng.standard_normal((len(x), per_row, x.shape[1]), dtype=np.float32)
    rms = np.sqrt((x**2).mean(axis=1))[:, None, None]  # (n, 1, 1)
    return (x[:, None, :] + CHUNK_NOISE * rms * noise).astype(np.float16)


def chunk_column(chunks: np.ndarray) -> pa.ListArray:
    """(n, per_row, dim) -> the ``chunk_embeddings`` column (list<fixed_size_list<float16>>)."""
    n, per_row, dim = chunks.shape
    rows = pa.FixedSizeListArray.from_arrays(pa.array(chunks.reshape(-1)), dim)
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * per_row), rows)


def write_table(folder: Path, vectors: Vectors, rows: int, per_row: int) -> None:
    """``rows`` tracks in the contract's schema, ``per_row`` chunk embeddings each, streamed to
    LanceDB in record batches of :data:`SUB` rows (one commit)."""
    tags = default_card()["tags"]  # probabilities stay null: only the vectors matter here
    schema = track_schema(len(tags), vectors.dim)
    folder.mkdir(parents=True, exist_ok=True)
    table = lancedb.connect(folder).create_table(TABLE, schema=schema, mode="overwrite")
    now = datetime.now(UTC)

    def batches() -> Iterator[pa.RecordBatch]:
        for first in range(0, rows, BATCH):
            x_all = vectors.draw(min(BATCH, rows - first), seed=1 + first)
            for offset in range(0, len(x_all), SUB):
                x = x_all[offset : offset + SUB]
                start, n = first + offset, len(x)
                paths = [f"/synthetic/{i:07d}.mp3" for i in range(start, start + n)]
                columns = {
                    "id": [track_id(p) for p in paths],
                    "path": paths,
                    "rel_path": [p[len("/synthetic/") :] for p in paths],
                    "duration_s": np.full(n, 30.0, np.float32),
                    "model": [MODEL] * n,
                    "model_version": [VERSION] * n,
                    "embedding": pa.FixedSizeListArray.from_arrays(
                        pa.array(x.reshape(-1)), vectors.dim
                    ),
                    "status": ["ok"] * n,
                    "tagged_at": [now] * n,
                }
                if per_row:
                    columns["chunk_embeddings"] = chunk_column(chunks_for(x, per_row, start))
                arrays = [
                    pa.nulls(n, f.type)
                    if f.name not in columns
                    else columns[f.name].cast(f.type)
                    if isinstance(columns[f.name], pa.Array)
                    else pa.array(columns[f.name], f.type)
                    for f in schema
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)

    table.add(pa.RecordBatchReader.from_batches(schema, batches()))
    LibraryManifest(
        model=MODEL,
        model_version=VERSION,
        tags=tags,
        embedding_size=vectors.dim,
        chunk_embeddings=per_row,
    ).write(folder)


def stored(vectors: Vectors, rows: int) -> np.ndarray:
    """The table's vectors again, regenerated from the same seeds: (rows, dim) float32."""
    parts = [vectors.draw(min(BATCH, rows - s), seed=1 + s) for s in range(0, rows, BATCH)]
    return np.concatenate(parts)


def stored_chunks(data: np.ndarray, wanted: set[int], per_row: int) -> dict[int, np.ndarray]:
    """The chunks of the rows ``wanted`` again ((per_row, dim) float32 each), regenerated a
    record batch at a time from the table's vectors ``data`` (record batches start at the
    multiples of :data:`SUB`, which divides :data:`BATCH`)."""
    out = {}
    for start in sorted({r - r % SUB for r in wanted}):
        chunks = chunks_for(data[start : start + SUB], per_row, start)
        out.update(
            {r: chunks[r - start].astype(np.float32) for r in wanted if r // SUB == start // SUB}
        )
    return out


def exact_topk(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) row numbers of the exact cosine top-k (ties: lower row first)."""
    norms = np.linalg.norm(data, axis=1)
    norms[norms == 0] = 1.0
    out = []
    for q in queries:
        sim = (data @ (q / np.linalg.norm(q))) / norms
        top = np.argpartition(-sim, k)[:k]
        out.append(top[np.argsort(-sim[top], kind="stable")])
    return np.array(out)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def truth_sets(
    data: np.ndarray,
    queries: np.ndarray,
    query_chunks: np.ndarray | None,
    k: int,
    rerank: int,
    per_row: int,
) -> list[set[str]]:
    """The ids of each query's exact answer: the cosine top ``max(k, rerank)`` re-ranked by
    MaxSim over their chunks (the service's two stages, done exactly), or the cosine top-k."""
    ids = [track_id(f"/synthetic/{i:07d}.mp3") for i in range(len(data))]
    if query_chunks is None:
        return [{ids[i] for i in row} for row in exact_topk(data, queries, k)]
    candidates = exact_topk(data, queries, max(k, rerank))  # (Q, R)
    chunks = stored_chunks(data, set(candidates.reshape(-1).tolist()), per_row)
    truth = []
    for qc, row in zip(query_chunks, candidates, strict=True):
        distance = maxsim_distances(qc.astype(np.float32), [chunks[int(i)] for i in row])
        truth.append({ids[int(row[j])] for j in np.argsort(distance, kind="stable")[:k]})
    return truth


def measure(
    library: Library,
    queries: np.ndarray,
    query_chunks: np.ndarray | None,
    truth: list[set[str]],
    k: int,
) -> dict:
    """Latency (ms) and recall@k of ``library.nearest`` over ``queries`` (with their chunks:
    re-ranked as the service does); 10 warm-up queries."""
    chunks = [None] * len(queries) if query_chunks is None else list(query_chunks)
    for q, c in zip(queries[:10], chunks[:10], strict=True):
        library.nearest(q, k, MODEL, VERSION, chunks=c)
    times, recalls = [], []
    for q, c, want in zip(queries, chunks, truth, strict=True):
        t0 = time.perf_counter()
        got = library.nearest(q, k, MODEL, VERSION, chunks=c)
        times.append((time.perf_counter() - t0) * 1000)
        recalls.append(len({m.id for m in got} & want) / k)
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "recall_at_k": round(float(np.mean(recalls)), 4),
        "min_recall": round(float(np.min(recalls)), 2),
    }


def run(args: argparse.Namespace) -> dict:
    vectors = Vectors(args.dim, args.latent)
    name = f"{args.rows}x{args.dim}-latent{args.latent}-chunks{args.chunks}"
    folder = args.work / name / args.kind
    if args.rebuild and folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    if not (folder / "library.json").exists():
        write_table(folder, vectors, args.rows, args.chunks)
    write_s = time.perf_counter() - t0
    library = Library(folder, QueryOptions(exact_below=0, index_kind=args.kind))
    index = library.index()
    if index is None:
        index = library.build_index(force=True)
    assert index is not None
    queries = vectors.draw(args.queries, seed=10**9)
    query_chunks = None
    if args.chunks and args.rerank:
        query_chunks = chunks_for(queries, args.chunks, start=10**9)  # (Q, chunks, dim)
    data = stored(vectors, args.rows)
    truth = truth_sets(data, queries, query_chunks, args.k, args.rerank, args.chunks)
    del data
    grid = []
    for nprobes in args.nprobes:
        for refine in args.refine:
            options = QueryOptions(
                exact_below=0, nprobes=nprobes, refine_factor=refine, rerank=args.rerank
            )
            result = measure(Library(folder, options), queries, query_chunks, truth, args.k)
            limit = max(args.k, args.rerank if query_chunks is not None else 0)
            compared = refine_per_row(options, args.k, limit) * limit  # full vectors per query
            grid.append(
                {"nprobes": nprobes, "refine_factor": refine, "full_vectors": compared, **result}
            )
            print(json.dumps(grid[-1]), flush=True)
    exact = Library(folder, QueryOptions(exact_below=args.rows + 1, rerank=args.rerank))
    head = None if query_chunks is None else query_chunks[:30]
    flat = measure(exact, queries[:30], head, truth[:30], args.k)
    table_bytes = du(folder / f"{TABLE}.lance")
    return {
        "rows": args.rows,
        "dim": args.dim,
        "latent": args.latent,
        "chunks_per_row": args.chunks,
        "rerank": args.rerank if query_chunks is not None else 0,
        "queries": args.queries,
        "k": args.k,
        "kind": index.kind,
        "index_params": index.params,
        "index_build_s": round(index.build_s, 1),
        "write_s": round(write_s, 1) if write_s > 1 else None,
        "table_bytes": table_bytes,
        "table_bytes_per_row": round(table_bytes / args.rows),
        "index_bytes": du(folder / f"{TABLE}.lance" / "_indices"),
        "exact_scan_lancedb": flat,
        "grid": grid,
        "loadavg": os.getloadavg(),
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.similarity", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=None, help="default: the default model's")
    parser.add_argument("--latent", type=int, default=32, help="0: clusters in all dims")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=16, help="chunk embeddings per track")
    parser.add_argument(
        "--rerank", type=int, default=30, help="candidates re-ranked by chunks (0: none)"
    )
    parser.add_argument("--kind", choices=["IVF_PQ", "IVF_HNSW_SQ"], default="IVF_PQ")
    parser.add_argument("--nprobes", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--refine", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--work", type=Path, default=Path("/tmp/similarity-bench"))
    parser.add_argument("--rebuild", action="store_true", help="write the table and index anew")
    parser.add_argument("--out", type=Path, help="folder for similarity-<rows>-<kind>.json")
    args = parser.parse_args(argv)
    args.dim = args.dim or default_dim()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"similarity-{args.rows}-{args.kind}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
