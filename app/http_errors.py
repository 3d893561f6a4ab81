"""The one place that turns errors into HTTP answers: status, headers and ``{"detail": ...}``.

Domain errors (:mod:`app.errors`) carry a message and extra fields; :data:`STATUS` gives each
class its status code, an :class:`app.errors.OverloadedError` adds ``Retry-After``, and the body
is always ``{"detail": "<message>", **extra}``. :class:`HTTPError` is for the transport layer
itself (the body guard in :mod:`app.limits`), which answers with its own status and headers.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import (
    AudioLimitError,
    AudioTooShortError,
    ClientGoneError,
    EmptyUploadError,
    FormFieldError,
    InvalidOptionError,
    LibraryNotMountedError,
    MalformedBodyError,
    ModelLoadError,
    ModelMismatchError,
    NotReadyError,
    OverloadedError,
    ServiceError,
    ShuttingDownError,
    UnknownModelError,
    UnknownTrackError,
    UnsupportedAudioError,
)

log = logging.getLogger("app")

STATUS: dict[type[ServiceError], int] = {
    EmptyUploadError: 400,
    AudioTooShortError: 400,
    MalformedBodyError: 400,
    ClientGoneError: 400,  # nobody reads it
    UnknownModelError: 404,
    LibraryNotMountedError: 404,
    UnknownTrackError: 404,
    ModelMismatchError: 409,
    AudioLimitError: 413,
    UnsupportedAudioError: 415,
    FormFieldError: 422,
    InvalidOptionError: 422,
    ModelLoadError: 503,
    NotReadyError: 503,
    ShuttingDownError: 503,
    OverloadedError: 503,
}
"""Status of each domain error class (a subclass takes its nearest listed base; else 500)."""


class HTTPError(ServiceError):
    """An error of the HTTP transport itself (body size, body stall, request deadline), with
    its status and extra response headers (``Connection: close``, ``Retry-After``)."""

    status_code = 500

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return error_body(self)


def status_of(exc: ServiceError) -> int:
    """The HTTP status that answers ``exc``."""
    if isinstance(exc, HTTPError):
        return exc.status_code
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def headers_of(exc: ServiceError) -> dict[str, str]:
    """Extra response headers: ``Retry-After`` for overload, the transport's own for its errors."""
    if isinstance(exc, HTTPError):
        return exc.headers
    if isinstance(exc, OverloadedError):
        return {"Retry-After": str(exc.retry_after_s)}
    return {}


def error_body(exc: ServiceError) -> dict[str, Any]:
    """The JSON body: ``{"detail": "<message>", **extra}``."""
    return {"detail": exc.detail, **exc.extra}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Register JSON handlers: service errors, validation (422), HTTP errors, and a catch-all 500.

    Overload (503 with ``Retry-After``) is not logged one line each: admission counts it in
    :class:`app.admission.OverloadLog`, one summary line per interval.
    """

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        status = status_of(exc)
        if not isinstance(exc, OverloadedError):
            log.info("%s %s -> %d: %s", request.method, request.url.path, status, exc.detail)
        return JSONResponse(error_body(exc), status_code=status, headers=headers_of(exc) or None)

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
