"""Request body size limit enforced while the body streams in (pure ASGI middleware).

A ``Content-Length`` over the limit is refused before reading anything; otherwise the bytes of
``http.request`` messages are counted as the application reads them (this covers chunked
uploads without ``Content-Length``) and the request is cut off with 413 as soon as the count
passes the limit, without reading the rest of the body.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLargeError(Exception):
    """Raised into the application's ``receive`` when the body passes the limit."""


class BodySizeLimitMiddleware:
    """413 ``{"detail": ...}`` for request bodies larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self, size: int | None) -> str:
        mib = self.max_bytes / (1024 * 1024)
        got = f" ({size} bytes)" if size is not None else ""
        return f"request body too large{got}: the limit is {self.max_bytes} bytes ({mib:g} MiB)"

    async def _reject(self, send: Send, size: int | None) -> None:
        body = json.dumps({"detail": self._message(size), "max_bytes": self.max_bytes}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    break  # the server rejects malformed lengths itself
                if declared > self.max_bytes:
                    await self._reject(send, declared)
                    return
                break

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to the aborted body (e.g. 400) is replaced by 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLargeError:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._reject(send, None)
