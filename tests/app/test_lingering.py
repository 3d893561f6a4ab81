"""Lingering close (app.lingering): a client answered before its body was read reads the answer.

The middleware alone (a plain ASGI app, scripted ``receive``), then a real uvicorn server with a
1 s keep-alive timeout: clients that pause mid-body for longer than that (what a busy client does
in an upload flood) must read their 503, not find the socket closed (a connection reset).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import suppress

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send

from app.lingering import LingeringCloseMiddleware
from benchmarks.flood import RssSampler, memory_mb, served, song_wav
from tests.app.support import make_models_dir

ANSWER = b'{"detail": "busy"}'
PIECE = 64 * 1024

# -- the middleware alone --------------------------------------------------------------------


def _scope(method: str = "POST", **headers: str) -> Scope:
    hs = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": method, "path": "/predict", "headers": hs}


def _early_app(status: int = 503, length: bool = True, reads: int = 0):
    """Reads ``reads`` body messages, then answers ``status`` without reading the rest."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for _ in range(reads):
            await receive()
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
        if length:
            headers.append((b"content-length", b"%d" % len(ANSWER)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": ANSWER})

    return app


class Client:
    """A scripted client: ``pieces`` body messages of 64 KiB, the last one ending the body
    (``then="end"``), or followed by a wait for ever (``"hang"``) or a disconnect (``"leave"``);
    records what the server side sent and how much body had been read when the answer ended."""

    def __init__(self, pieces: int, then: str = "end") -> None:
        self.pieces, self.then, self.read = pieces, then, 0
        self.sent: list[Message] = []
        self.read_when_completed: int | None = None

    async def receive(self) -> Message:
        if self.read >= self.pieces:
            if self.then == "hang":
                await anyio.sleep_forever()
            return {"type": "http.disconnect"}
        self.read += 1
        more = self.then != "end" or self.read < self.pieces
        return {"type": "http.request", "body": bytes(PIECE), "more_body": more}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.read_when_completed = self.read
        self.sent.append(message)


async def _run(
    app, client: Client, scope: Scope, drain_mb: float = 1, drain_s: float = 5, stall_s=5.0
) -> None:
    wrapped = LingeringCloseMiddleware(app, int(drain_mb * 1024 * 1024), drain_s, stall_s)
    await wrapped(scope, client.receive, client.send)


def _headers(start: Message) -> dict[bytes, bytes]:
    return dict(start["headers"])


@pytest.mark.anyio
async def test_an_early_answer_goes_out_at_once_and_ends_after_the_body() -> None:
    client = Client(pieces=10)
    await _run(_early_app(), client, _scope(content_length=str(10 * PIECE)))
    start, body, end = client.sent
    assert start["status"] == 503 and _headers(start)[b"connection"] == b"close"
    assert _headers(start)[b"retry-after"] == b"1"
    assert body == {"type": "http.response.body", "body": ANSWER, "more_body": True}
    assert end == {"type": "http.response.body", "body": b"", "more_body": False}
    assert client.read == client.read_when_completed == 10  # the whole body was read first


@pytest.mark.anyio
async def test_the_drain_stops_at_its_byte_bound() -> None:
    client = Client(pieces=1000)  # 62.5 MiB announced, the bound is 1 MiB
    await _run(_early_app(), client, _scope(content_length=str(1000 * PIECE)), drain_mb=1)
    assert client.read_when_completed == client.read == 16  # 16 x 64 KiB = 1 MiB


@pytest.mark.anyio
async def test_the_drain_stops_at_its_time_bound() -> None:
    client = Client(pieces=3, then="hang")
    t0 = time.monotonic()
    await _run(_early_app(), client, _scope(transfer_encoding="chunked"), drain_s=0.3)
    assert 0.25 < time.monotonic() - t0 < 3
    assert client.read_when_completed == 3 and client.sent[-1]["more_body"] is False


@pytest.mark.anyio
async def test_a_client_that_stops_sending_ends_the_drain() -> None:
    client = Client(pieces=3, then="hang")
    t0 = time.monotonic()
    await _run(_early_app(), client, _scope(transfer_encoding="chunked"), stall_s=0.3)
    assert 0.25 < time.monotonic() - t0 < 3
    assert client.read_when_completed == 3 and client.sent[-1]["more_body"] is False


@pytest.mark.anyio
async def test_a_client_that_leaves_ends_the_drain() -> None:
    client = Client(pieces=2, then="leave")
    scope = _scope(content_length=str(100 * PIECE))  # announces more than it sends
    await _run(_early_app(), client, scope)
    assert client.read_when_completed == 2


@pytest.mark.parametrize(
    ("app", "scope", "pieces"),
    [
        (_early_app(), _scope("GET"), 0),  # no body
        (_early_app(), _scope(content_length="0"), 0),
        (_early_app(status=200, reads=2), _scope(content_length=str(2 * PIECE)), 2),  # read all
        (_early_app(status=408), _scope(content_length=str(9 * PIECE)), 9),  # stalled client
        (_early_app(length=False), _scope(content_length=str(9 * PIECE)), 9),  # streamed answer
        (_early_app(), _scope(content_length=str(9 * PIECE), expect="100-continue"), 9),
    ],
    ids=["get", "empty", "body-read", "408", "no-length", "100-continue-not-sent"],
)
@pytest.mark.anyio
async def test_answers_that_need_no_drain_pass_unchanged(app, scope: Scope, pieces: int) -> None:
    client = Client(pieces=pieces)
    await _run(app, client, scope)
    start, body = client.sent
    assert b"connection" not in _headers(start)
    assert body.get("more_body", False) is False
    assert client.read == (pieces if start["status"] == 200 else 0)


# -- a real server ---------------------------------------------------------------------------

KEEP_ALIVE_S = 1
PAUSE_S = 2.0  # a client's pause mid-body, longer than the server's keep-alive timeout
UPLOADS = 30
MEGABYTES = 4.0
SLOTS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    env = {
        "TAGGER_MODELS_DIR": str(make_models_dir(tmp_path_factory.mktemp("lingering"))),
        "TAGGER_PROVIDERS": "cpu",
        "TAGGER_INTRA_OP_THREADS": "1",
        "TAGGER_MAX_UPLOADS": str(SLOTS),  # most of a flood is refused from its headers
        "UVICORN_TIMEOUT_KEEP_ALIVE": str(KEEP_ALIVE_S),  # uvicorn reads UVICORN_* options
    }
    with served(env) as (url, pid, log):
        yield url, pid
    assert "Traceback" not in log.read_text()


def _request(host: str, length: int) -> bytes:
    return (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
        "Content-Type: multipart/form-data; boundary=bb\r\n\r\n"
    ).encode()


TAIL = b"\r\n--bb--\r\n"


def _body(payload: bytes) -> bytes:
    head = b'--bb\r\nContent-Disposition: form-data; name="file"; filename="s.wav"\r\n\r\n'
    return head + payload + TAIL


async def _upload(url: str, body: bytes, pause_s: float) -> tuple[str, dict[str, str], bytes]:
    """Like a client that writes the whole body before it reads (``requests``), and stalls for
    ``pause_s`` after the first 16 KiB: ``(status or error name, headers, rest of the
    stream)``. The rest is read until the server closes, so a reset after the answer counts."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(_request(host, len(body)) + body[: 16 * 1024])
        await writer.drain()
        await asyncio.sleep(pause_s)
        view = memoryview(body)
        for i in range(16 * 1024, len(view), 256 * 1024):
            writer.write(view[i : i + 256 * 1024])
            await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        rest = await reader.read()  # until the server's FIN; a reset raises
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        return type(exc).__name__, {}, b""
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
    return status_line.split()[1], headers, rest


async def _hold_slots(url: str, n: int) -> list[asyncio.StreamWriter]:
    """``n`` uploads that send their headers and stop: they hold every upload slot."""
    host, port = url.removeprefix("http://").split(":")
    writers = []
    for _ in range(n):
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(_request(host, 10**6) + _body(b"RIFF\0\0\0\0WAVE").removesuffix(TAIL))
        await writer.drain()
        writers.append(writer)
    await asyncio.sleep(0.5)
    return writers


def test_a_refused_client_that_pauses_mid_body_reads_its_503(server: tuple[str, int]) -> None:
    url, _pid = server

    async def scenario() -> tuple[str, dict[str, str], bytes]:
        holders = await _hold_slots(url, SLOTS)
        try:
            return await _upload(url, _body(bytes(2 * 1024 * 1024)), PAUSE_S)
        finally:
            for w in holders:
                w.close()

    status, headers, rest = asyncio.run(scenario())
    assert status == "503", status  # before: BrokenPipeError / ConnectionResetError
    assert headers["retry-after"].isdigit() and headers["connection"] == "close"
    assert b"TAGGER_MAX_UPLOADS" in rest  # the whole answer, then a clean close


def test_a_flood_of_pausing_uploads_gets_200_or_503_and_no_reset(server: tuple[str, int]) -> None:
    url, pid = server
    body = _body(song_wav(MEGABYTES))

    async def flood() -> list[tuple[str, dict[str, str], bytes]]:
        uploads = [_upload(url, body, PAUSE_S) for _ in range(UPLOADS)]
        return await asyncio.wait_for(asyncio.gather(*uploads), timeout=180)

    time.sleep(1.0)
    before = memory_mb(pid)[0]
    with RssSampler(pid) as sampler:
        answers = asyncio.run(flood())
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) <= {"200", "503"}, statuses
    assert statuses.count("200") >= SLOTS and statuses.count("503") >= 1, statuses
    assert all(h["retry-after"].isdigit() for s, h, _ in answers if s == "503")
    growth = max(rss for _, rss in sampler.samples) - before
    # The refused bodies (about 110 MB) are read and dropped 64 KiB at a time, never kept.
    assert growth < 0.25 * UPLOADS * MEGABYTES, (before, growth)
