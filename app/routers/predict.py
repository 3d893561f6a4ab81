"""``POST /predict``: tag an uploaded audio file."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from app.routers.upload_body import upload_body
from app.schemas import (
    ErrorResponse,
    PredictResponse,
    SegmentPrediction,
    Timings,
)
from app.shaping import QUERY, TagView, check_embedding, decision_rule, embedding_fields
from app.state import StateDep

router = APIRouter(tags=["predict"])


def _error(description: str, detail: str, **extra: object) -> dict:
    return {
        "model": ErrorResponse,
        "description": description,
        "content": {"application/json": {"example": {"detail": detail, **extra}}},
    }


ERRORS = {
    400: _error(
        "Empty upload, or audio shorter than the minimum duration.",
        "audio lasts 0.400 s, less than the minimum of 1 s needed to tag it",
        duration_s=0.4,
        min_duration_s=1.0,
    ),
    404: _error(
        "Unknown model (lists the valid names).",
        "unknown model 'nope'; available models: cnn1d, cnn2d_gru",
        available=["cnn1d", "cnn2d_gru"],
    ),
    413: _error(
        "Body over the upload limit, or audio longer than the maximum duration.",
        "audio lasts 912.0 s, more than the limit of 600.0 s",
        duration_s=912.0,
        max_duration_s=600.0,
    ),
    408: _error(
        "The body stalled for TAGGER_BODY_TIMEOUT_S, or was still arriving at "
        "TAGGER_REQUEST_TIMEOUT_S; the connection is closed.",
        "request body incomplete: no data for 30 s (TAGGER_BODY_TIMEOUT_S)",
    ),
    415: _error(
        "Not audio (no audio header in the first bytes), or audio that cannot be decoded.",
        "could not decode the upload: no audio stream in the MP4/MOV file (it holds video "
        "only: h264)",
    ),
    422: _error(
        "No `file` part, more than one, a text field instead of a file, or bad query values "
        "(top_k beyond the ranked tags, threshold outside 0..1, unknown threshold_policy, "
        "embedding=true for a model without an embedding).",
        "invalid request: file: Field required",
        errors=[{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}],
    ),
    503: _error(
        "Overloaded (the model's inference queue or the uploads in flight are full; decided "
        "before the body is read, with a Retry-After header), start-up not finished, the model "
        "cannot be loaded, or the request ran past TAGGER_REQUEST_TIMEOUT_S.",
        "model 'cnn1d' is busy: its inference queue holds 512 chunks (limit 512); retry in "
        "about 2 s",
        queue_depth=512,
        max_queue=512,
        retry_after_s=2,
    ),
}

MAX_TOP_K = 50
"""Largest ``top_k`` the schema accepts (the largest tag vocabulary, MTAT's top 50)."""

REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "Exactly one audio file: MP3, WAV, FLAC, OGG or another "
                        "format the decoder reads. What the schema cannot say: the bytes must "
                        "be audio (an audio header within the first TAGGER_SNIFF_BYTES, else "
                        "415), last between TAGGER_MIN_DURATION_S and TAGGER_MAX_DURATION_S "
                        "(400 / 413), and the whole body must fit TAGGER_MAX_UPLOAD_MB (413). "
                        "The part needs a filename (filename= or RFC 5987 filename*=).",
                    }
                },
            }
        }
    },
}


@router.post(
    "/predict",
    response_model=PredictResponse,
    summary="Tag an audio file",
    responses=ERRORS,
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def predict(
    request: Request,
    state: StateDep,
    model: Annotated[
        str | None,
        Query(description="Model name (GET /models); default: the service's default model."),
    ] = None,
    top_k: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_TOP_K,
            description="How many tags to return, 1..ranked (the project's ten by default, all "
            "of the model's tags with all_tags=true; at most 50; default: all ranked).",
        ),
    ] = None,
    all_tags: Annotated[
        bool,
        Query(
            description="Rank all of the model's tags (50 for the MTAT top-50 models) instead of "
            "the project's ten; a 10-tag model returns its ten and says so in tag_set.note."
        ),
    ] = False,
    segments: Annotated[
        bool,
        Query(description="Also return probabilities per segment (every TAGGER_CHUNK_HOP_S)."),
    ] = False,
    threshold_policy: Annotated[
        Literal["f1", "precision", "none"] | None,
        Query(
            description="How labels are decided: f1 (per-tag thresholds of maximal F1, "
            "cross-fitted on real MTAT), precision (per-tag thresholds of precision >= 0.8; "
            "tags without one are never decided), none (probabilities only, labels null). "
            "Default: the model card's default policy (f1). A model without calibrated "
            "thresholds decides nothing (labels null, decision.reason says why) unless given "
            "a threshold."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            allow_inf_nan=False,
            description="One threshold 0..1 for every tag, overriding threshold_policy "
            "(decision.policy = fixed); decides with any model, calibrated or not.",
        ),
    ] = None,
    embedding: Annotated[
        bool,
        Query(
            description="Also return the clip's embedding (the model's penultimate features "
            "averaged over the clip's chunks) with embedding_layer and embedding_size; 422 for "
            "a model without one."
        ),
    ] = False,
) -> PredictResponse:
    """Decode the upload (mono, 16 kHz), average the model's probabilities over its chunks
    (evenly spaced, or every hop, as the model card says), and return the tags from most to
    least probable: the project's ten by default, all of the model's with ``all_tags=true``.
    Each tag carries its threshold and whether it is decided present; ``labels`` lists the
    decided tags among all ranked ones (``threshold_policy``, ``threshold``).

    Admission happens before the body is read: the query is checked, then the request takes an
    upload slot and a reservation in the model's inference queue, or gets 503 with
    ``Retry-After`` at once. The body then streams into a bounded spool (memory, then disk);
    its first bytes must look like audio (415 otherwise) before the rest is read.

    With ``embedding=true`` the answer also carries the clip's ``embedding`` (the model's
    penultimate features, averaged over the clip's chunks like the probabilities).

    Example: ``curl -F file=@song.mp3 'http://127.0.0.1:8000/predict?top_k=5&segments=true'``
    """
    default = state.require_ready()
    name = state.registry.check_name(model) if model is not None else default
    newly_loaded = name not in state.registry.loaded()
    loaded = await state.tagger.load(name)
    if newly_loaded:
        state.metrics.observe_loaded(loaded)
    # A bad top_k is refused here, before admission and before a byte of the body is read.
    view = TagView.of(loaded.name, loaded.tags, all_tags, top_k, QUERY)
    rule = decision_rule(loaded.card, threshold_policy, threshold, QUERY)
    check_embedding(loaded.name, loaded.card, embedding, QUERY)
    result = await state.tagger.tag(
        lambda: upload_body(request, state.settings), loaded, segments=segments
    )
    segs = None
    if result.segments is not None:
        segs = [
            SegmentPrediction(
                start_s=s.start_s, end_s=s.end_s, probabilities=view.scores(s.probabilities)
            )
            for s in result.segments
        ]
    tags, labels, decision = view.decided(rule, result.probabilities)
    return PredictResponse(
        model=name,
        provider=loaded.provider,
        tags=tags,
        duration_s=result.duration_s,
        sample_rate=loaded.sample_rate,
        chunk_s=loaded.chunk_samples / loaded.sample_rate,
        n_chunks=result.n_chunks,
        heard_s=round(result.heard_s, 3),
        timings=Timings(
            decode_ms=round(result.decode_ms, 3),
            inference_ms=round(result.inference_ms, 3),
            total_ms=round(result.total_ms, 3),
        ),
        segments=segs,
        tag_set=view.tag_set,
        labels=labels,
        decision=decision,
        **(embedding_fields(loaded.card, result.embedding) if embedding else {}),
    )
