"""The mounted library (``TAGGER_LIBRARY``): "more like this" and search by tags.

``POST /similar`` tags an upload through the same path as ``/predict`` (:meth:`app.tagger.Tagger.tag`)
with the library's model and answers its k nearest library tracks; ``GET /library`` describes the
library; ``GET /library/{id}/similar`` and ``GET /library/search`` query it. Every answer is 404
without a library; the queries run in worker threads (LanceDB's calls block).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request

from app.config import Settings
from app.errors import InvalidOptionError, ModelMismatchError
from app.routers.library_schemas import (
    LibraryResponse,
    LibraryStatus,
    LibraryTrack,
    SearchResponse,
    SimilarResponse,
)
from app.routers.predict import ERRORS as PREDICT_ERRORS
from app.routers.predict import REQUEST_BODY, _error
from app.routers.upload_body import upload_body
from app.state import ServiceState, StateDep

if TYPE_CHECKING:  # LanceDB and pyarrow (the library extra) load only with a library mounted
    from app.library.search import Library, Match
    from app.registry import LoadedModel

router = APIRouter(tags=["library"])

HARD_MAX = 10_000
"""Schema bound of k and limit; the settings (TAGGER_LIBRARY_MAX_K, _MAX_RESULTS) are tighter."""

NOT_MOUNTED = _error(
    "No library is mounted (TAGGER_LIBRARY), or no track with that id.",
    "no library is mounted: start the service with TAGGER_LIBRARY=DIR, a folder built by "
    "`python -m app library build`",
)
MISMATCH = _error(
    "The query was (or would be) embedded by another model or version than the library's.",
    "this library was built with model 'won_musicnn' version won2020 (200-d embeddings); the "
    "query was embedded by 'pons_musicnn' version pons2019 (753-d): embeddings of different "
    "models cannot be compared, query with the library's model or rebuild the library",
    library_model="won_musicnn",
    query_model="pons_musicnn",
)
BAD_PARAMS = _error(
    "k or limit beyond the service's limits, or a tag the library's model does not know.",
    "k=500 is more than the limit of 100 (TAGGER_LIBRARY_MAX_K)",
    errors=[{"loc": ["query", "k"], "msg": "above TAGGER_LIBRARY_MAX_K", "type": "value_error"}],
)
QUERY_ERRORS = {404: NOT_MOUNTED, 409: MISMATCH, 422: BAD_PARAMS}
UPLOAD_ERRORS = {**PREDICT_ERRORS, **QUERY_ERRORS}

KQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=HARD_MAX,
        description="Neighbours to return (default TAGGER_LIBRARY_DEFAULT_K, "
        "at most TAGGER_LIBRARY_MAX_K).",
    ),
]


def _k(k: int | None, settings: Settings) -> int:
    k = k or settings.library_default_k
    if k > settings.library_max_k:
        raise InvalidOptionError(
            f"k={k} is more than the limit of {settings.library_max_k} (TAGGER_LIBRARY_MAX_K)",
            errors=[
                {"loc": ["query", "k"], "msg": "above TAGGER_LIBRARY_MAX_K", "type": "value_error"}
            ],
        )
    return k


def _tags(value: str | None) -> list[str]:
    """``"classical, strings"`` -> ``["classical", "strings"]`` (blank items dropped)."""
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def _track(m: Match) -> LibraryTrack:
    return LibraryTrack(**vars(m))


def _search_kind(library: Library) -> str:
    return "ann" if library.uses_index() else "exact"


async def _library_model(state: ServiceState, library: Library, model: str | None) -> LoadedModel:
    """The library's model, loaded; 409 before the body is read if ``model`` (or the loaded
    model's version or embedding width) is not the library's."""
    m = library.manifest
    if model is not None:
        library.check_model(model)
    loaded = await state.tagger.load(m.model)
    library.check_model(loaded.name, loaded.card.version, loaded.embedding_size or 0)
    return loaded


@router.post(
    "/similar",
    response_model=SimilarResponse,
    summary="Library tracks that sound like an upload",
    responses=UPLOAD_ERRORS,
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def similar(
    request: Request,
    state: StateDep,
    k: KQuery = None,
    model: Annotated[
        str | None,
        Query(description="Must be the library's model if given (409 otherwise); default: it."),
    ] = None,
) -> SimilarResponse:
    """Tag the upload with the library's model exactly as ``POST /predict`` does (same limits,
    same admission) and answer the ``k`` library tracks nearest to it, nearest first: its clip
    embedding (the mean of its chunks' penultimate-layer features) takes the
    TAGGER_LIBRARY_RERANK best tracks by cosine distance, its chunks' embeddings re-rank them by
    chunk matching (each chunk's best cosine with a track's chunks, averaged; ``distance`` =
    1 - that). A library that keeps no chunk embeddings, or TAGGER_LIBRARY_RERANK=0: the clip
    embedding's cosine distance alone.

    Example: ``curl -F file=@song.mp3 'http://127.0.0.1:8000/similar?k=5'``
    """
    state.require_ready()
    library = state.require_library()
    k = _k(k, state.settings)
    loaded = await _library_model(state, library, model)
    result = await state.tagger.tag(lambda: upload_body(request, state.settings), loaded)
    if result.embedding is None:
        raise ModelMismatchError(
            f"model {loaded.name!r} exports no embedding output: it cannot query a library",
            library_model=library.manifest.model,
            query_model=loaded.name,
        )
    query = partial(library.nearest, chunks=result.chunk_embeddings)  # (n_clip, D)
    found = await anyio.to_thread.run_sync(
        query, result.embedding, k, loaded.name, loaded.card.version
    )
    return SimilarResponse(
        model=loaded.name,
        model_version=loaded.card.version,
        search=_search_kind(library),
        query_duration_s=round(result.duration_s, 3),
        tracks=[_track(m) for m in found],
    )


@router.get(
    "/library",
    response_model=LibraryResponse,
    summary="The mounted library",
    responses={404: NOT_MOUNTED},
)
async def library_info(state: StateDep) -> LibraryResponse:
    """Size (tracks, tagged, failed), the model that built it, when, and its ANN index."""
    library = state.require_library()
    return LibraryResponse(**await anyio.to_thread.run_sync(library.stats))


@router.get("/library/status", response_model=LibraryStatus, summary="Is a library mounted?")
async def library_status(state: StateDep) -> LibraryStatus:
    """Always 200: whether a library is mounted, and if so its size and model (the page asks
    this before showing "More like this"; ``GET /library`` is 404 without a library)."""
    library = state.library
    if library is None:
        return LibraryStatus(mounted=False)
    tracks = await anyio.to_thread.run_sync(library.count, "status = 'ok'")
    return LibraryStatus(mounted=True, tracks=tracks, model=library.manifest.model)


@router.get(
    "/library/search",
    response_model=SearchResponse,
    summary="Library tracks by tags",
    responses={404: NOT_MOUNTED, 422: BAD_PARAMS},
)
async def library_search(
    state: StateDep,
    labels: Annotated[
        str, Query(description="Comma-separated tags a track must all have: classical,strings.")
    ],
    exclude: Annotated[
        str | None, Query(description="Comma-separated tags a track must not have: drums.")
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=HARD_MAX, description="Most tracks listed (TAGGER_LIBRARY_MAX_RESULTS)."),
    ] = 50,
) -> SearchResponse:
    """Tracks whose decided labels hold every tag of ``labels`` and none of ``exclude``, the
    highest mean probability of ``labels`` first. A library built without decisions (a model
    with no thresholds) takes a tag as present at probability >= TAGGER_LIBRARY_LABEL_THRESHOLD.

    Example: ``curl 'http://127.0.0.1:8000/library/search?labels=classical,strings&exclude=drums'``
    """
    library = state.require_library()
    s = state.settings
    if limit > s.library_max_results:
        raise InvalidOptionError(
            f"limit={limit} is more than the limit of {s.library_max_results} "
            "(TAGGER_LIBRARY_MAX_RESULTS)",
            errors=[{"loc": ["query", "limit"], "msg": "too large", "type": "value_error"}],
        )
    want, drop = _tags(labels), _tags(exclude)
    result = await anyio.to_thread.run_sync(library.search, want, drop, limit)
    by = "labels" if library.has_decisions() else f"threshold {library.options.label_threshold:g}"
    return SearchResponse(
        labels=want,
        exclude=drop,
        decided_by=by,
        total=result.total,
        tracks=[_track(m) for m in result.tracks],
    )


@router.get(
    "/library/{track_id}/similar",
    response_model=SimilarResponse,
    summary="Library tracks that sound like a library track",
    responses={404: NOT_MOUNTED, 422: BAD_PARAMS},
)
async def library_similar(
    state: StateDep,
    track_id: Annotated[str, Path(description="A track id from another answer.", max_length=64)],
    k: KQuery = None,
) -> SimilarResponse:
    """The ``k`` library tracks nearest to the track ``track_id`` (itself left out), by its
    stored clip and chunk embeddings as ``POST /similar`` takes an upload's."""
    library = state.require_library()
    k = _k(k, state.settings)
    query = await anyio.to_thread.run_sync(library.track, track_id)
    found = await anyio.to_thread.run_sync(library.similar_to, track_id, k)
    m = library.manifest
    return SimilarResponse(
        model=m.model,
        model_version=m.model_version,
        search=_search_kind(library),
        query=_track(query),
        tracks=[_track(t) for t in found],
    )
