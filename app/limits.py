"""Request body guard (pure ASGI middleware): size limit, stall timeout, whole-request deadline.

* **Size**: a ``Content-Length`` over the limit is refused (413) before reading anything;
  otherwise the bytes of ``http.request`` messages are counted as the application reads them
  (this covers chunked uploads) and the request is cut off with 413 as soon as the count passes
  the limit, without reading the rest.
* **Stall**: while the body is incomplete, each wait for the next piece is bounded by
  ``body_timeout_s``; past it the request gets 408 and the connection is closed (a client that
  declares more than it sends cannot hold a connection and its buffers for ever). Steady
  uploads, however slow, never trip it.
* **Deadline**: the whole request (body, queueing, decoding, inference) is bounded by
  ``request_timeout_s``: 408 if the body was still arriving, else 503 with ``Retry-After``.

The errors are raised into the application's ``receive`` as :class:`app.http_errors.HTTPError`
subclasses, so the app renders them like any other error; whatever the app answers after a
guard fired, the client gets the guard's status.
"""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http_errors import HTTPError


class BodyTooLargeError(HTTPError):
    """The request body passes the size limit (413, connection closed)."""

    status_code = 413


class BodyTimeoutError(HTTPError):
    """The request body stalled, or was still arriving at the request deadline (408)."""

    status_code = 408


class RequestTimeoutError(HTTPError):
    """The request (body complete) ran past the request deadline (503)."""

    status_code = 503


class BodyGuardMiddleware:
    """413 / 408 / 503 for oversized, stalled or overlong requests (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, body_timeout_s: float, request_timeout_s: float
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s
        self.request_timeout_s = request_timeout_s

    def too_large(self, size: int | None) -> BodyTooLargeError:
        mib = self.max_bytes / (1024 * 1024)
        got = f" ({size} bytes)" if size is not None else ""
        err = BodyTooLargeError(
            f"request body too large{got}: the limit is {self.max_bytes} bytes ({mib:g} MiB)",
            max_bytes=self.max_bytes,
        )
        err.headers = {"Connection": "close"}
        return err

    def stalled(self, deadline: bool) -> BodyTimeoutError:
        why = (
            f"the request took longer than {self.request_timeout_s:g} s (TAGGER_REQUEST_TIMEOUT_S)"
            if deadline
            else f"no data for {self.body_timeout_s:g} s (TAGGER_BODY_TIMEOUT_S)"
        )
        err = BodyTimeoutError(f"request body incomplete: {why}")
        err.headers = {"Connection": "close"}
        return err

    def overdue(self) -> RequestTimeoutError:
        err = RequestTimeoutError(
            f"the request took longer than {self.request_timeout_s:g} s "
            "(TAGGER_REQUEST_TIMEOUT_S); the service is overloaded",
            retry_after_s=1,
        )
        err.headers = {"Retry-After": "1"}
        return err

    @staticmethod
    async def _send_error(send: Send, err: HTTPError) -> None:
        body = json.dumps(err.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
        await send({"type": "http.response.start", "status": err.status_code, "headers": headers})
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
                    await self._send_error(send, self.too_large(declared))
                    return
                break

        received = 0
        body_done = False
        failure: HTTPError | None = None
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done, failure
            if failure is not None:
                raise failure
            if body_done:
                return await receive()  # e.g. waiting for a disconnect: no body timeout
            try:
                with anyio.fail_after(self.body_timeout_s):
                    message = await receive()
            except TimeoutError:
                failure = self.stalled(deadline=False)
                raise failure from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_bytes:
                    failure = self.too_large(None)
                    raise failure
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if failure is not None:
                return  # the app's answer to the aborted body is replaced by the guard's
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with anyio.move_on_after(self.request_timeout_s) as scope_deadline:
            try:
                await self.app(scope, guarded_receive, guarded_send)
            except Exception:
                if failure is None:
                    raise
        if scope_deadline.cancelled_caught and failure is None:
            failure = self.stalled(deadline=True) if not body_done else self.overdue()
        if failure is not None and not started:
            await self._send_error(send, failure)
