"""Stored evaluation results (``/metrics``) and Prometheus runtime counters (``/prometheus``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.registry import card_evaluations
from app.schemas import EvaluationEntry, MetricsResponse
from app.state import StateDep

router = APIRouter(tags=["metrics"])

PROMETHEUS_EXAMPLE = """# HELP tagger_requests_total HTTP requests.
# TYPE tagger_requests_total counter
tagger_requests_total{endpoint="/predict",method="POST",status="200"} 12.0
# HELP tagger_request_duration_seconds HTTP request latency, first byte received to last byte sent.
# TYPE tagger_request_duration_seconds histogram
tagger_request_duration_seconds_bucket{endpoint="/predict",le="0.1",method="POST"} 9.0
"""


@router.get(
    "/metrics",
    response_model=MetricsResponse,
    summary="Stored evaluation results of every model",
)
async def evaluation_metrics(
    state: StateDep,
) -> MetricsResponse:
    """Every evaluation of every model card: what it was measured on, by this project or taken
    from a named source, with the full metrics (per tag, macro, micro...) where computed here.

    These are the offline results stored at export time, not runtime counters: those are at
    ``GET /prometheus``.
    """
    cards, _ = state.registry.cards()
    return MetricsResponse(
        models=[
            EvaluationEntry(
                name=name,
                trained_on=card.trained_on,
                evaluation=card.evaluation,
                evaluations=card_evaluations(card),
            )
            for name, card in cards.items()
        ]
    )


@router.get(
    "/prometheus",
    summary="Prometheus runtime metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format 0.0.4.",
            "content": {"text/plain": {"example": PROMETHEUS_EXAMPLE}},
        }
    },
)
async def prometheus(state: StateDep) -> Response:
    """Request counts by endpoint and status, latency, decode and inference histograms."""
    return Response(state.metrics.exposition(), media_type=state.metrics.content_type)
