"""The load generator: a minimal asyncio HTTP/1.1 client (default) or httpx, and their tallies."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


def load_generator(
    url: str,
    clip_paths: list[str],
    concurrency: int,
    requests: int,
    client: str = "raw",
    path: str = "/predict",
) -> dict:
    """Runs in its own process: ``requests`` POST ``path`` (``/predict`` and its query) with
    ``concurrency`` in flight."""
    clips = [Path(p).read_bytes() for p in clip_paths]
    run = _raw_load if client == "raw" else _httpx_load
    try:
        import uvloop

        return uvloop.run(run(url, clips, concurrency, requests, path))
    except ImportError:
        return asyncio.run(run(url, clips, concurrency, requests, path))


def multipart_request(host: str, port: int, path: str, clip: bytes, filename: str) -> bytes:
    """A complete HTTP/1.1 POST with ``clip`` as the multipart field ``file`` (keep-alive)."""
    boundary = f"tagger-bench-{os.urandom(8).hex()}"
    body = b"".join(
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: audio/mpeg\r\n\r\n".encode(),
            clip,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """``(status, body, keep_alive)`` of one HTTP/1.1 response (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        body = b"".join(parts)
    else:
        body = await reader.read()
        headers["connection"] = "close"
    return status, body, headers.get("connection") != "close"


class _Tally:
    """Statuses and 200-latencies of a load run, and its wall and CPU time."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}

    def record(self, status: int, seconds: float) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        if status == 200:
            self.latencies.append(seconds)

    async def run(self, workers: list) -> dict:
        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*workers)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        return {
            "latencies": self.latencies,
            "statuses": self.statuses,
            "wall_s": wall,
            "cpu_s": cpu,
        }


async def _raw_load(
    url: str, clips: list[bytes], concurrency: int, requests: int, path: str = "/predict"
) -> dict:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payloads = [
        multipart_request(host, port, path, clip, f"clip{i}.mp3") for i, clip in enumerate(clips)
    ]
    tally = _Tally()
    counter = iter(range(requests))

    async def worker() -> None:
        reader = writer = None
        try:
            for i in counter:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                t = time.perf_counter()
                writer.write(payloads[i % len(payloads)])
                status, body, keep_alive = await read_response(reader)
                dt = time.perf_counter() - t
                if status == 200 and b'"tags"' not in body:
                    status = 0  # counted as an error: a 200 without tags
                tally.record(status, dt)
                if not keep_alive:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    return await tally.run([worker() for _ in range(concurrency)])


async def _httpx_load(
    url: str, clips: list[bytes], concurrency: int, requests: int, path: str = "/predict"
) -> dict:
    import httpx

    tally = _Tally()
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def worker() -> None:
            for i in counter:
                files = {"file": (f"clip{i}.mp3", clips[i % len(clips)], "audio/mpeg")}
                t = time.perf_counter()
                r = await client.post(path, files=files)
                tally.record(r.status_code, time.perf_counter() - t)

        return await tally.run([worker() for _ in range(concurrency)])
