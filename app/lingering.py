"""Lingering close: a client answered before its request body was read still gets the answer.

``POST /predict`` refuses uploads from their headers (503 + ``Retry-After`` when full) and the
body guard refuses oversized bodies (413) without reading them. The client is then usually still
sending. Left to itself, uvicorn sends the answer, discards further body bytes and arms its
keep-alive timer (``--timeout-keep-alive``, 5 s) once the answer is complete; a client that
pauses longer than that mid-body (a busy or CPU-starved client, a slow link) finds the socket
closed under it. Its next write is answered with a TCP reset, and most clients then report
"connection reset" instead of the answer (an asyncio client drops what it had received; one that
writes the whole body before reading, like ``requests``, never reads it). A ``Connection: close``
answer (413, 408) is worse: uvicorn closes the socket at once, with unread bytes in its receive
buffer, which sends the reset immediately.

This middleware, the outermost layer, applies to every request that has a body (a
``Content-Length`` above 0 or ``Transfer-Encoding: chunked``) answered before its last byte
arrived: the answer goes out at once with ``Connection: close`` and all its bytes, but its end is
held back from the server while the rest of the body is read and discarded, up to
``drain_bytes`` bytes or ``drain_s`` seconds (``TAGGER_REFUSED_DRAIN_MB`` /
``TAGGER_REFUSED_DRAIN_S``), or until no data came for ``stall_s`` (``TAGGER_BODY_TIMEOUT_S``),
a message of at most 64 KiB at a time (uvicorn's flow control). Then
the answer is completed and uvicorn closes the connection: a FIN when the whole body was read,
a reset only for a client that sends more, or for longer, than the bounds. Nothing is buffered:
memory per lingering connection is one message. Not applied to 408 (the client stopped sending,
there is nothing to wait for), to answers without ``Content-Length`` (their end is only known
when the last message is sent), or to ``Expect: 100-continue`` requests whose body the app never
asked for (the client does not send it).
"""

from __future__ import annotations

from contextlib import suppress

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_LINGER_STATUSES = frozenset({408})
"""Answers that mean the client stopped sending: closed at once, nothing to drain."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (``Content-Length`` > 0 or chunked)."""
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"chunked" in (_header(scope, b"transfer-encoding") or b"").lower()


class LingeringCloseMiddleware:
    """Answer early, then read and discard the unread body before closing (module docstring)."""

    def __init__(self, app: ASGIApp, drain_bytes: int, drain_s: float, stall_s: float) -> None:
        self.app = app
        self.drain_bytes = drain_bytes
        self.drain_s = drain_s
        self.stall_s = stall_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        expects_continue = (_header(scope, b"expect") or b"").lower() == b"100-continue"
        body_done = False
        asked = False  # the app called receive (a 100 Continue, if expected, went out)
        linger = False
        held: Message | None = None

        async def tracked_receive() -> Message:
            nonlocal body_done, asked
            asked = True
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True  # last piece, or the client left
            return message

        async def held_send(message: Message) -> None:
            nonlocal linger, held
            if message["type"] == "http.response.start":
                linger = self._should_linger(message, body_done, expects_continue and not asked)
                if linger:
                    message = self._with_connection_close(message)
            elif linger and not message.get("more_body", False):
                held = message  # the last body message: its bytes go out now, its end later
                message = {**message, "more_body": True}
            await send(message)

        try:
            await self.app(scope, tracked_receive, held_send)
        except Exception:
            if held is not None:
                await self._finish(receive, send, body_done)
            raise
        if held is not None:
            await self._finish(receive, send, body_done)

    def _should_linger(self, start: Message, body_done: bool, body_not_asked: bool) -> bool:
        if body_done or body_not_asked or start["status"] in NO_LINGER_STATUSES:
            return False
        return any(k.lower() == b"content-length" for k, _ in start.get("headers", ()))

    @staticmethod
    def _with_connection_close(start: Message) -> Message:
        headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() != b"connection"]
        return {**start, "headers": [*headers, (b"connection", b"close")]}

    async def _finish(self, receive: Receive, send: Send, body_done: bool) -> None:
        """Read and drop the rest of the body within the bounds, then end the answer (the
        server closes the connection: ``Connection: close``)."""
        if not body_done:
            with suppress(TimeoutError):  # the client stalled: close now
                await self._drain(receive)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _drain(self, receive: Receive) -> int:
        """Discard body messages until the last one, the client leaves, or a bound is hit;
        returns the bytes discarded."""
        drained = 0
        with anyio.move_on_after(self.drain_s):
            while drained < self.drain_bytes:
                with anyio.fail_after(self.stall_s):
                    message = await receive()
                if message["type"] != "http.request":
                    break  # http.disconnect
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        return drained
