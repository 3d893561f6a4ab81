"""The library's reader side: nearest neighbours by embedding, tracks by decided tags, stats.

A :class:`Library` opens ``DIR`` read-only (its manifest and the LanceDB table
:data:`app.library.schema.TABLE`) and answers:

* :meth:`Library.nearest` -- the ``k`` tracks nearest to a query, in two stages.
  1. Candidates by the query's clip embedding (the mean of its chunks' embeddings), by cosine
     distance (``1 - cos``, 0..2). Below :attr:`QueryOptions.exact_below` rows, or without an
     index, every row is compared (exact, a flat scan); above it the ANN index answers (IVF
     partitions probed ``nprobes`` at a time, candidates re-ranked on the full vectors
     ``refine_factor`` x the rows asked: Jégou, Douze & Schmid 2011, "Product quantization for
     nearest neighbor search", IVFADC + re-ranking).
  2. When the query comes with its chunk embeddings, :attr:`QueryOptions.rerank` > 0 and the
     library keeps chunk embeddings (its manifest's ``chunk_embeddings`` > 0): the best
     ``max(k, rerank)`` candidates are re-ranked by chunk matching (:mod:`app.library.chunks`:
     1 - the mean over the query's chunks of their best cosine with the track's chunks, ColBERT's
     MaxSim), which then orders the answer and is its ``distance``. Otherwise the clip
     embedding's cosine distance orders it, as stage 1 found it.
* :meth:`Library.similar_to` -- the same for a track of the library (its stored embedding and
  chunk embeddings; itself left out).
* :meth:`Library.search` -- tracks whose decided labels hold all of ``labels`` and none of
  ``exclude``; for a library without decisions, probabilities >= a threshold stand in.
* :meth:`Library.build_index` -- the ANN index (cosine), once the table is big enough; what was
  built is recorded in ``DIR/index.json`` (:data:`INDEX_FILE`).

Every query is checked against the library's model: an embedding from another model, version or
width raises :class:`app.errors.ModelMismatchError` (distances between two models' spaces mean
nothing). No HTTP here: the service maps the errors (:mod:`app.http_errors`).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import IvfHnswSq, IvfPq

from app.config import Settings
from app.errors import InvalidOptionError, ModelMismatchError, NotALibraryError, UnknownTrackError
from app.library.chunks import from_arrow, maxsim_distances, pool
from app.library.schema import LIBRARY_VERSION, MANIFEST, TABLE, LibraryManifest
from tagging.files import atomic_write_text

INDEX_FILE = "index.json"
"""``DIR/index.json``: the ANN index's kind, parameters, rows and build time (:class:`IndexInfo`)."""

IndexKind = Literal["IVF_PQ", "IVF_HNSW_SQ"]

_ID = re.compile(r"^[0-9a-f]{16}$")  # app.library.schema.track_id: 16 hex digits
_COLUMNS = ["id", "path", "rel_path", "duration_s", "labels"]  # what a match shows


@dataclass(frozen=True)
class QueryOptions:
    """How queries run and when the index is built (the service's ``TAGGER_LIBRARY_*``)."""

    exact_below: int = 10_000  # rows under which a flat scan answers (< 25 ms at 200 dims)
    index_min_rows: int = 10_000  # build_index() does nothing below this (unless forced)
    index_kind: IndexKind = "IVF_PQ"
    nprobes: int = 40  # IVF partitions probed per query (of sqrt(rows))
    refine_factor: int = 10  # candidates re-ranked on full vectors: refine_factor * k
    rerank: int = 30  # candidates re-ranked by chunk matching (0: clip embedding only)
    label_threshold: float = 0.5  # probability that stands in for a decision (no labels)
    refresh_s: float = 10.0  # how stale a reader may be while a build appends rows

    @classmethod
    def of(cls, settings: Settings) -> QueryOptions:
        """The ``TAGGER_LIBRARY_*`` settings."""
        s = settings
        return cls(
            exact_below=s.library_exact_below,
            index_min_rows=s.library_index_min_rows,
            index_kind=s.library_index_kind,
            nprobes=s.library_nprobes,
            refine_factor=s.library_refine_factor,
            rerank=s.library_rerank,
            label_threshold=s.library_label_threshold,
            refresh_s=s.library_refresh_s,
        )


@dataclass(frozen=True)
class Match:
    """One track of an answer; ``path`` is relative to the source folder it was found under
    (the absolute path stays on the server); ``distance``: what ordered a similarity answer, 0..2
    (the chunk-match distance when the query was re-ranked by chunks, else the clip embeddings'
    cosine distance: :meth:`Library.nearest`); ``score`` = mean probability of the searched
    tags."""

    id: str
    path: str
    duration_s: float | None
    labels: list[str] | None
    distance: float | None = None
    score: float | None = None


@dataclass(frozen=True)
class IndexInfo:
    """The ANN index as built: kind, metric, parameters, rows it covered, seconds, when."""

    kind: str
    metric: str
    params: dict[str, int]
    rows: int
    build_s: float
    built: datetime

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "built": self.built.isoformat()}


@dataclass(frozen=True)
class SearchResult:
    total: int  # tracks that satisfy the query
    tracks: list[Match]  # the best `limit` of them, by score


def _sql_list(values: list[str]) -> str:
    """``['a', 'b''c']``: SQL string literals (quotes doubled; values come from the card)."""
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def index_params(kind: IndexKind, rows: int, dim: int) -> dict[str, int]:
    """Parameters for ``rows`` vectors of ``dim``: sqrt(rows) IVF partitions (about 1,000 rows
    each at 1M); PQ: dim/8 sub-vectors of 8 bits (a 200-d float32 vector, 800 B, becomes 25 B);
    HNSW (Malkov & Yashunin 2018) inside each partition: m=20, ef_construction=300."""
    partitions = max(1, int(math.sqrt(rows)))
    if kind == "IVF_PQ":
        sub = next(s for s in (dim // 8, dim // 4, dim // 2, dim) if s and dim % s == 0)
        return {"num_partitions": partitions, "num_sub_vectors": sub}
    return {"num_partitions": max(1, partitions // 4), "m": 20, "ef_construction": 300}


def refine_per_row(options: QueryOptions, asked: int, limit: int) -> int:
    """The index's refine factor for ``limit`` rows when the caller wants ``asked`` of them:
    about ``refine_factor`` x ``asked`` full vectors compared in all, whatever the ``limit``."""
    return max(1, math.ceil(options.refine_factor * asked / limit))


class Library:
    """A library opened read-only: its manifest, its table, its index (if any)."""

    def __init__(self, folder: Path, options: QueryOptions | None = None) -> None:
        self.folder = Path(folder)
        self.options = options or QueryOptions()
        self.manifest = self._read_manifest()
        try:
            db = lancedb.connect(
                self.folder, read_consistency_interval=timedelta(seconds=self.options.refresh_s)
            )
            self.table = db.open_table(TABLE)
        except (OSError, ValueError, RuntimeError) as exc:  # lance raises ValueError when absent
            raise NotALibraryError(
                f"{self.folder} is not a library: its table {TABLE!r} cannot be opened ({exc})"
            ) from exc

    def _read_manifest(self) -> LibraryManifest:
        path = self.folder / MANIFEST
        if not path.is_file():
            raise NotALibraryError(
                f"{self.folder} is not a library: no {MANIFEST} in it "
                "(build one with `python -m app library build SOURCE --library DIR`)"
            )
        try:
            manifest = LibraryManifest.read(self.folder)
        except (OSError, ValueError) as exc:
            raise NotALibraryError(f"{path} cannot be read as a library manifest: {exc}") from exc
        if manifest.library_version != LIBRARY_VERSION:
            raise NotALibraryError(
                f"{self.folder} has library version {manifest.library_version}; this service "
                f"reads version {LIBRARY_VERSION}: rebuild it"
            )
        return manifest

    # -- the model check ------------------------------------------------------------------------
    def check_model(self, model: str, version: str | None = None, width: int | None = None) -> None:
        """:class:`ModelMismatchError` unless a query's embedding comes from the library's model
        (and, when given, its version and embedding width)."""
        m = self.manifest
        same = model == m.model and version in (None, m.model_version)
        if same and width in (None, m.embedding_size):
            return
        query = f"{model!r}" + ("" if version is None else f" version {version}")
        query += "" if width is None else f" ({width}-d)"
        raise ModelMismatchError(
            f"this library was built with model {m.model!r} version {m.model_version} "
            f"({m.embedding_size}-d embeddings); the query was embedded by {query}: embeddings "
            "of different models cannot be compared, query with the library's model or rebuild "
            "the library",
            library_model=m.model,
            query_model=model,
        )

    # -- nearest neighbours ---------------------------------------------------------------------
    def index(self) -> IndexInfo | None:
        """The index recorded in ``DIR/index.json`` when LanceDB still has it, else None."""
        path = self.folder / INDEX_FILE
        if not path.is_file() or not self.table.list_indices():
            return None
        raw = json.loads(path.read_text())
        return IndexInfo(**{**raw, "built": datetime.fromisoformat(raw["built"])})

    def uses_index(self) -> bool:
        """Whether nearest() answers through the ANN index (indexed and big enough)."""
        return self.count() >= self.options.exact_below and self.index() is not None

    def reranks(self) -> bool:
        """Whether a query with chunk embeddings is re-ranked by them (re-rank on, and the
        library keeps chunk embeddings)."""
        return self.options.rerank > 0 and self.manifest.chunk_embeddings > 0

    def nearest(
        self,
        vector: np.ndarray,
        k: int,
        model: str,
        version: str,
        exclude: str | None = None,
        chunks: np.ndarray | None = None,
    ) -> list[Match]:
        """The ``k`` tracks nearest to a query, nearest first; ``exclude`` leaves one id out.

        ``vector``: the query's clip embedding ((D,) float32, from ``model`` ``version``); it
        takes the candidates by cosine distance. ``chunks``: the query's chunk embeddings
        ((n, D), time order); given, and when :meth:`reranks`, the ``max(k, rerank)`` best
        candidates are re-ranked by chunk matching, which orders the answer and is its
        distance. Without them (or re-ranking off) the cosine distance does."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        self.check_model(model, version, len(vector))
        if not np.isfinite(vector).all() or not vector.any():
            raise InvalidOptionError(
                "the query's embedding is all zeros or not finite (a silent recording?): it has "
                "no direction to compare by cosine"
            )
        query = None  # (<= chunk_embeddings, D): pooled as the library's tracks were
        asked = limit = k + (exclude is not None)
        if chunks is not None and self.reranks():
            query = pool(self._checked_chunks(chunks, len(vector)), self.manifest.chunk_embeddings)
            limit = max(limit, self.options.rerank)
        rows = self._candidates(vector, limit, asked, with_chunks=query is not None)
        keep = [
            i != exclude and d is not None
            for i, d in zip(rows["id"].to_pylist(), rows["_distance"].to_pylist(), strict=True)
        ]
        rows = rows.filter(pa.array(keep, pa.bool_()))  # (C,) in clip distance order
        if query is not None:
            distance = maxsim_distances(query, from_arrow(rows["chunk_embeddings"]))  # (C,)
            order = np.argsort(distance, kind="stable")[:k]  # ties keep the clip order
        else:
            distance = rows["_distance"].to_numpy().astype(np.float32)  # (C,)
            order = np.arange(min(k, len(distance)))
        found = rows.select(_COLUMNS).take(pa.array(order, pa.int64())).to_pylist()
        return [
            self._match(r, distance=float(distance[i])) for r, i in zip(found, order, strict=True)
        ]

    def _candidates(
        self, vector: np.ndarray, limit: int, asked: int, with_chunks: bool
    ) -> pa.Table:
        """The ``limit`` rows nearest to ``vector`` by cosine distance (stage 1), nearest first:
        a flat scan of the ok rows, or the ANN index once the library is big enough. Through
        the index, about ``refine_factor`` x ``asked`` full vectors are compared whatever the
        ``limit`` (``asked`` = the rows the caller wants; more candidates for the re-rank do not
        multiply the exact work: 500 refined vectors instead of 100 doubled the query time)."""
        columns = [*_COLUMNS, "_distance"]  # named: lance's future default drops it
        query = (
            self.table.search(vector, vector_column_name="embedding")
            .distance_type("cosine")
            .select(columns + (["chunk_embeddings"] if with_chunks else []))
            .limit(limit)
        )
        if self.uses_index():
            o = self.options
            query = query.nprobes(o.nprobes).refine_factor(refine_per_row(o, asked, limit))
        else:
            query = query.bypass_vector_index().where("status = 'ok'", prefilter=True)
        return query.to_arrow()

    @staticmethod
    def _checked_chunks(chunks: np.ndarray, width: int) -> np.ndarray:
        """``chunks`` as ``(n, width)`` float32 with n >= 1; :class:`InvalidOptionError` else."""
        chunks = np.asarray(chunks, dtype=np.float32)
        if chunks.ndim != 2 or chunks.shape[1] != width or len(chunks) == 0:
            raise InvalidOptionError(
                f"the query's chunk embeddings are {chunks.shape}, not (n >= 1, {width}): one "
                "row per chunk, as wide as the embedding"
            )
        return chunks

    def embeddings_of(self, track: str) -> tuple[np.ndarray, np.ndarray | None]:
        """A track's clip embedding ((D,) float32) and its stored chunk embeddings ((n, D)
        float32; None when the library keeps none); :class:`UnknownTrackError` when the id is
        unknown or the track failed to tag."""
        rows = self._rows(track, ["embedding", "chunk_embeddings", "status", "error"])
        if not rows:
            raise UnknownTrackError(f"no track with id {track!r} in this library", id=track)
        row = rows[0]
        if row["status"] != "ok" or row["embedding"] is None:
            raise UnknownTrackError(
                f"track {track!r} has no embedding: it could not be tagged ({row['error']})",
                id=track,
            )
        chunks = row["chunk_embeddings"]
        return (
            np.asarray(row["embedding"], dtype=np.float32),
            np.asarray(chunks, dtype=np.float32) if chunks else None,
        )

    def similar_to(self, track: str, k: int) -> list[Match]:
        """The ``k`` tracks nearest to the library's track ``track`` (its clip embedding and its
        chunk embeddings, as :meth:`nearest` takes them), itself left out."""
        m = self.manifest
        vector, chunks = self.embeddings_of(track)
        return self.nearest(vector, k, m.model, m.model_version, exclude=track, chunks=chunks)

    def track(self, track: str) -> Match:
        rows = self._rows(track, _COLUMNS)
        if not rows:
            raise UnknownTrackError(f"no track with id {track!r} in this library", id=track)
        return self._match(rows[0])

    def _rows(self, track: str, columns: list[str]) -> list[dict[str, Any]]:
        if not _ID.match(track):  # never put a raw string into the filter
            return []
        return self.table.search().where(f"id = '{track}'").select(columns).limit(1).to_list()

    @staticmethod
    def _match(row: dict[str, Any], **extra: float) -> Match:
        path = row.get("rel_path") or Path(str(row["path"])).name
        duration = row.get("duration_s")
        return Match(
            id=row["id"],
            path=path,
            duration_s=None if duration is None else round(float(duration), 3),
            labels=row.get("labels"),
            **extra,
        )

    # -- by tags --------------------------------------------------------------------------------
    def has_decisions(self) -> bool:
        return self.manifest.decision_policy is not None

    def check_tags(self, tags: list[str], what: str) -> None:
        unknown = [t for t in tags if t not in self.manifest.tags]
        if unknown:
            raise InvalidOptionError(
                f"unknown {what} {', '.join(map(repr, unknown))}: the library's model "
                f"{self.manifest.model!r} tags {', '.join(self.manifest.tags)}",
                errors=[{"loc": ["query", what], "msg": "unknown tag", "type": "value_error"}],
            )

    def search(self, labels: list[str], exclude: list[str], limit: int) -> SearchResult:
        """Tracks with all of ``labels`` and none of ``exclude``, the ``limit`` best first (by
        the mean probability of ``labels``). Decided labels when the library has them, else
        probability >= :attr:`QueryOptions.label_threshold` per tag."""
        self.check_tags(labels, "labels")
        self.check_tags(exclude, "exclude")
        if not labels:
            raise InvalidOptionError("give at least one tag in labels")
        where = "status = 'ok'"
        if self.has_decisions():
            where += f" AND array_has_all(labels, {_sql_list(labels)})"
            if exclude:
                where += f" AND NOT array_has_any(labels, {_sql_list(exclude)})"
        columns = [*_COLUMNS, "probabilities"]
        reader = self.table.search().where(where).select(columns).to_batches()
        want = [self.manifest.tags.index(t) for t in labels]
        drop = [self.manifest.tags.index(t) for t in exclude]
        return _top(reader, want, drop, limit, None if self.has_decisions() else self.options)

    # -- stats and index ------------------------------------------------------------------------
    def count(self, where: str | None = None) -> int:
        return self.table.count_rows(where)

    def stats(self) -> dict[str, Any]:
        """Size, model, dates, index: what ``GET /library`` and ``library stats`` show."""
        m = self.manifest
        index = self.index()
        return {
            "tracks": self.count(),
            "ok": self.count("status = 'ok'"),
            "errors": self.count("status = 'error'"),
            "model": m.model,
            "model_version": m.model_version,
            "embedding_size": m.embedding_size,
            "embedding_layer": m.embedding_layer,
            "decision_policy": m.decision_policy,
            "tags": m.tags,
            "created": m.created,
            "updated": m.updated,
            "index": None if index is None else {**index.to_json(), **self._unindexed()},
            "search": "ann" if self.uses_index() else "exact",
        }

    def _unindexed(self) -> dict[str, int]:
        """Rows appended since the index was built (LanceDB scans them exactly per query)."""
        indices = [i for i in self.table.list_indices() if "embedding" in i.columns]
        if not indices:
            return {}
        return {"unindexed_rows": self.table.index_stats(indices[0].name).num_unindexed_rows}

    def refresh_index(self, stale_fraction: float = 0.1) -> IndexInfo | None:
        """After a build: (re)build the index when the library is big enough for one and has
        none, or when more than ``stale_fraction`` of its rows were added since (those are
        scanned exactly per query). None when nothing was (re)built."""
        index = self.index()
        if index is not None:
            unindexed = self._unindexed().get("unindexed_rows", 0)
            if unindexed <= stale_fraction * self.count("status = 'ok'"):
                return None
        return self.build_index()

    def build_index(self, force: bool = False, kind: IndexKind | None = None) -> IndexInfo | None:
        """Build the cosine ANN index over the ``ok`` rows' embeddings when the table holds at
        least :attr:`QueryOptions.index_min_rows` of them (``force``: whatever the size, at least
        256 rows for IVF training); records it in ``DIR/index.json``. None when too small."""
        rows = self.count("status = 'ok'")
        if rows < (256 if force else max(256, self.options.index_min_rows)):
            return None
        kind = kind or self.options.index_kind
        params = index_params(kind, rows, self.manifest.embedding_size)
        t0 = time.perf_counter()
        config = (IvfPq if kind == "IVF_PQ" else IvfHnswSq)(distance_type="cosine", **params)
        self.table.create_index("embedding", replace=True, config=config)  # column, new API
        info = IndexInfo(kind, "cosine", params, rows, time.perf_counter() - t0, datetime.now(UTC))
        atomic_write_text(self.folder / INDEX_FILE, json.dumps(info.to_json(), indent=2) + "\n")
        return info


def _top(
    reader: pa.RecordBatchReader,
    want: list[int],
    drop: list[int],
    limit: int,
    by_probability: QueryOptions | None,
) -> SearchResult:
    """Stream the candidate rows, keep the ``limit`` best by mean probability of ``want``;
    ``by_probability``: decide by its threshold here (a library without decisions)."""
    best: list[tuple[float, dict[str, Any]]] = []
    total = 0
    for batch in reader:
        if batch.num_rows == 0:
            continue
        flat = batch.column("probabilities").flatten().to_numpy(zero_copy_only=False)
        probs = flat.astype(np.float32).reshape(batch.num_rows, -1)  # (n, K)
        keep = np.ones(len(probs), dtype=bool)
        if by_probability is not None:
            t = by_probability.label_threshold
            keep = (probs[:, want] >= t).all(axis=1) & ~(probs[:, drop] >= t).any(axis=1)
        score = probs[:, want].mean(axis=1)
        index = np.flatnonzero(keep)
        total += len(index)
        index = index[np.argsort(-score[index], kind="stable")[:limit]]
        rows = batch.select(_COLUMNS).take(pa.array(index)).to_pylist()
        best += [(float(score[i]), r) for i, r in zip(index, rows, strict=True)]
        best = sorted(best, key=lambda b: -b[0])[:limit]
    tracks = [Library._match(r, score=round(s, 4)) for s, r in best]
    return SearchResult(total=total, tracks=tracks)
