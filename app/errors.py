"""Service errors and their JSON rendering: every error body is ``{"detail": "<message>", ...}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("app")


class ServiceError(Exception):
    """An error with an HTTP status, a human message and optional extra JSON fields."""

    status_code = 500
    log_each = True  # False: counted by app.admission.OverloadLog instead of one line each

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}  # extra response headers (e.g. Retry-After)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, **self.extra}


class EmptyUploadError(ServiceError):
    """The upload has no bytes or no audio samples (400)."""

    status_code = 400


class AudioTooShortError(ServiceError):
    """The audio is shorter than the minimum duration (400)."""

    status_code = 400


class UnsupportedAudioError(ServiceError):
    """The upload is not audio we can decode (415); the message says what was found."""

    status_code = 415


class PayloadTooLargeError(ServiceError):
    """The audio lasts longer than allowed (413); the body size limit lives in app.limits."""

    status_code = 413


class UnknownModelError(ServiceError):
    """No model of that name in the models directory (404); lists the valid names."""

    status_code = 404

    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(
            f"unknown model {name!r}; available models: {', '.join(available) or '(none)'}",
            available=available,
        )


class InvalidParameterError(ServiceError):
    """A query value that is valid in type but not for this model (422)."""

    status_code = 422


class ModelLoadError(ServiceError):
    """A model exists but cannot be loaded (bad card, bad ONNX, provider refused) (503)."""

    status_code = 503


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Register JSON handlers: service errors, validation (422), HTTP errors, and a catch-all 500."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        if exc.log_each:
            log.info(
                "%s %s -> %d: %s", request.method, request.url.path, exc.status_code, exc.detail
            )
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": _validation_message(exc), "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A true bug: log the traceback, tell the client nothing internal.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)
