"""Optional API keys (pure ASGI middleware): ``Authorization: Bearer <key>`` on every non-public path.

Off unless ``TAGGER_API_KEYS`` or ``TAGGER_API_KEYS_FILE`` names at least one key. Keys are
compared with :func:`hmac.compare_digest` against every configured key (constant time, no
early exit on the first match) and never logged. The public allow-list (:data:`PUBLIC_PATHS`,
:data:`PUBLIC_PREFIXES`) holds what carries no data and what orchestrators and browsers fetch
without credentials: the health probes, and the documentation and web page *shells* (the page's
own API calls send the key like any client). ``OPTIONS`` preflights are answered by the CORS
middleware, which sits outside this one.
"""

from __future__ import annotations

import hmac
import json

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

PUBLIC_PATHS = frozenset(
    {
        "/healthz",  # liveness probe
        "/readyz",  # readiness probe
        "/",  # the web page (static HTML/JS; it calls the API with the user's key)
        "/docs",  # Swagger UI, /redoc and the schema they read: no data, only the API's shape
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/favicon.ico",
    }
)
"""Exact paths served without a key."""

PUBLIC_PREFIXES = ("/static/", "/docs/", "/redoc/")
"""Path prefixes served without a key (static assets of the page and of the offline docs)."""

REALM = "mtat-tagger"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def bearer_token(scope: Scope) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
            return None
    return None


class ApiKeyMiddleware:
    """401 with ``WWW-Authenticate: Bearer`` unless the request carries a configured key."""

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self._keys = [k.encode() for k in keys]

    def _valid(self, token: bytes | None) -> bool:
        if token is None:
            return False
        matched = False
        for key in self._keys:  # every key is compared: timing says nothing about which
            matched |= hmac.compare_digest(token, key)
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if self._valid(token):
            await self.app(scope, receive, send)
            return
        error = "invalid_token" if token is not None else None
        detail = (
            "invalid API key"
            if token is not None
            else "missing API key: send 'Authorization: Bearer <key>'"
        )
        challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"www-authenticate", challenge.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


UNAUTHORIZED = {
    "description": "Missing or wrong API key (only when the service runs with API keys); "
    "header WWW-Authenticate: Bearer.",
    "content": {"application/json": {"example": {"detail": "invalid API key"}}},
}


def document_security(app: FastAPI) -> None:
    """Declare the bearer scheme in the OpenAPI schema: on every non-public operation, with
    its 401 (called only when keys are configured, so the schema never claims auth that is
    off)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["apiKey"] = {"type": "http", "scheme": "bearer"}
        for path, operations in schema.get("paths", {}).items():
            if is_public(path):
                continue
            for operation in operations.values():
                operation["security"] = [{"apiKey": []}]
                operation.setdefault("responses", {})["401"] = UNAUTHORIZED
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
