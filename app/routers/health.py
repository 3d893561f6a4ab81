"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from app.schemas import ErrorResponse, HealthResponse, ReadyResponse
from app.state import StateDep


class ProbeRoute(APIRoute):
    """A probe route whose 405 answer's ``Allow`` names every method its path accepts.

    ``GET`` and ``HEAD`` of a probe are two routes; Starlette answers any other method with the
    ``Allow`` header of the first route of the path only (``HEAD``).
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in self.methods:
            allowed = {m for r in router.routes if r.path == self.path for m in r.methods}
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
        await super().handle(scope, receive, send)


router = APIRouter(tags=["health"], route_class=ProbeRoute)


@router.head(
    "/healthz",
    summary="Liveness, headers only",
    response_class=Response,
    responses={200: {"description": "The process answers (no body).", "content": {}}},
)
@router.head(
    "/readyz",
    summary="Readiness, headers only (200 or 503)",
    response_class=Response,
    responses={
        200: {"description": "Ready (no body).", "content": {}},
        503: {"description": "Start-up has not finished (no body).", "content": {}},
    },
)
async def head_probe(request: Request) -> Response:
    """``HEAD`` of a probe: the status of its ``GET``, no body (for load balancers)."""
    if request.url.path == "/readyz" and not request.app.state.service.ready:
        return Response(status_code=503)
    return Response(status_code=200)


@router.get(
    "/healthz",
    response_model=HealthResponse,
    summary="Liveness: the process answers",
)
async def healthz() -> HealthResponse:
    """Always 200 while the process serves HTTP (use for liveness probes)."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Readiness: the default model is loaded and warmed up",
    responses={
        503: {
            "model": ErrorResponse,
            "description": "Start-up has not finished.",
            "content": {
                "application/json": {
                    "example": {
                        "detail": "the service is starting: the default model is not loaded yet"
                    }
                }
            },
        }
    },
)
async def readyz(state: StateDep) -> ReadyResponse:
    """200 once the default model is loaded and warmed up, with the provider it really runs on.

    ``fallback`` is true when CUDA was asked for (``TAGGER_PROVIDERS=auto``) but onnxruntime runs
    the model on CPU; ``fallback_reason`` says why.
    """
    name = state.require_ready()
    model = state.registry.get(name)
    return ReadyResponse(
        status="ready",
        model=name,
        providers_requested=state.settings.providers,
        provider=model.provider,
        fallback=model.fallback,
        fallback_reason=model.fallback_reason,
        placement=model.placement,
    )
