"""Response models of the library routes (:mod:`app.routers.library`), with their examples."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_TRACK = {
    "id": "3f2a9c01d4b7e865",
    "path": "Brahms/Hungarian_Dance_5.ogg",
    "duration_s": 137.4,
    "labels": ["classical", "strings"],
    "distance": 0.0412,
}


class LibraryTrack(BaseModel):
    id: str = Field(description="The track's id in the library (GET /library/{id}/similar).")
    path: str = Field(
        description="Path relative to the source folder the build found it under (the "
        "absolute path stays on the server)."
    )
    duration_s: float | None = Field(description="Length of the recording in seconds.")
    labels: list[str] | None = Field(
        description="Tags the library's model decided present (null: the library decides none)."
    )
    distance: float | None = Field(
        None,
        description="Distance to the query, 0 (the same) .. 2, which orders the answer: 1 - the "
        "mean over the query's chunks of their best cosine with the track's chunks (chunk "
        "matching, when the library keeps chunk embeddings and TAGGER_LIBRARY_RERANK > 0), "
        "else the cosine distance of the clip embeddings.",
    )
    score: float | None = Field(
        None, description="Mean probability of the searched tags (/library/search)."
    )


class SimilarResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "won_musicnn",
                    "model_version": "won2020",
                    "search": "exact",
                    "query": None,
                    "query_duration_s": 29.1,
                    "tracks": [_TRACK],
                }
            ]
        }
    )

    model: str = Field(description="The library's model, which embedded the query too.")
    model_version: str
    search: Literal["exact", "ann"] = Field(
        description="exact: every embedding compared; ann: the library's ANN index."
    )
    query: LibraryTrack | None = Field(
        None, description="The library track queried by GET /library/{id}/similar."
    )
    query_duration_s: float | None = Field(
        None, description="Length of the uploaded recording (POST /similar)."
    )
    tracks: list[LibraryTrack] = Field(description="The k nearest tracks, nearest first.")


class LibraryStatus(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mounted": True, "tracks": 6000, "model": "won_musicnn"}]}
    )

    mounted: bool = Field(description="Whether the service has a library (TAGGER_LIBRARY).")
    tracks: int | None = Field(None, description="Tracks that can be found (tagged, embedded).")
    model: str | None = Field(None, description="The library's model.")


class IndexModel(BaseModel):
    kind: str = Field(description="IVF_PQ or IVF_HNSW_SQ (LanceDB).")
    metric: str
    params: dict[str, int]
    rows: int = Field(description="Tracks indexed when it was built.")
    build_s: float
    built: datetime
    unindexed_rows: int | None = Field(
        None, description="Tracks added since it was built (compared exactly on each query)."
    )


class LibraryResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tracks": 6012,
                    "ok": 6000,
                    "errors": 12,
                    "model": "won_musicnn",
                    "model_version": "won2020",
                    "embedding_size": 200,
                    "embedding_layer": "dense1",
                    "decision_policy": "f1",
                    "tags": ["guitar", "classical", "slow"],
                    "created": "2026-12-07T08:00:00Z",
                    "updated": "2026-12-07T09:00:00Z",
                    "index": None,
                    "search": "exact",
                }
            ]
        }
    )

    tracks: int = Field(description="Rows of the library: one per source file.")
    ok: int = Field(description="Tracks tagged and embedded.")
    errors: int = Field(description="Files the build could not tag (their rows say why).")
    model: str
    model_version: str
    embedding_size: int
    embedding_layer: str | None
    decision_policy: str | None = Field(description="Thresholds behind labels (null: none).")
    tags: list[str] = Field(description="The model's tags, the order of its probabilities.")
    created: datetime
    updated: datetime = Field(description="When a build last wrote to the library.")
    index: IndexModel | None = Field(description="The ANN index, if one was built.")
    search: Literal["exact", "ann"] = Field(description="How similarity queries run now.")


class SearchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "labels": ["classical", "strings"],
                    "exclude": ["drums"],
                    "decided_by": "labels",
                    "total": 1,
                    "tracks": [{**_TRACK, "distance": None, "score": 0.81}],
                }
            ]
        }
    )

    labels: list[str]
    exclude: list[str]
    decided_by: str = Field(
        description="labels: the decided labels of the build; threshold T: probability >= T "
        "(a library without decisions)."
    )
    total: int = Field(description="Tracks that match, of which the best `limit` are listed.")
    tracks: list[LibraryTrack] = Field(description="Highest mean probability of labels first.")
