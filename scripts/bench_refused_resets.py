"""Upload flood of clients that pause mid-body: do refused clients read their 503 or a reset?

``python -m benchmarks.flood`` reads each answer while it writes, and a client that does so rarely
sees a reset. This benchmark's clients behave like ``requests`` or a CPU-starved client: each
sends its headers and the first 16 KiB, stops for ``--pause-s`` (longer than uvicorn's 5 s
keep-alive timeout, which closes a refused connection mid-body unless the service
drains it), writes the rest of the
body, and only then reads the answer and the stream until the server closes it. Reports the
statuses (a reset counts as ``ConnectionResetError`` / ``BrokenPipeError``) and the server's
peak RSS::

    python scripts/bench_refused_resets.py --uploads 200 --mb 19 --pause-s 6

Starts ``uvicorn app.main:app`` (the repository's models, CPU) on 127.0.0.1 with the
repository's default settings; bounded in count and time (``--timeout-s``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.flood import RssSampler, memory_mb, served, song_wav  # noqa: E402

PIECE = 256 * 1024
FIRST = 16 * 1024
BOUNDARY = b"benchb0undary"


def body_of(payload: bytes) -> bytes:
    head = b'--%s\r\nContent-Disposition: form-data; name="file"; filename="s.wav"\r\n\r\n'
    return head % BOUNDARY + payload + b"\r\n--%s--\r\n" % BOUNDARY


async def upload(host: str, port: int, body: bytes, pause_s: float) -> tuple[str, bool]:
    """One pausing write-then-read upload: ``(status or error name, Retry-After present)``."""
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"POST /predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\n\r\n"
    ).encode()
    try:
        writer.write(request + body[:FIRST])
        await writer.drain()
        await asyncio.sleep(pause_s)
        view = memoryview(body)
        for i in range(FIRST, len(view), PIECE):
            writer.write(view[i : i + PIECE])
            await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # to the server's FIN: a reset after the answer counts too
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        return type(exc).__name__, False
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()
    return head.split()[1].decode(), b"\r\nretry-after:" in head.lower()


async def flood(url: str, n: int, body: bytes, pause_s: float, timeout_s: float) -> list:
    host, port = url.removeprefix("http://").split(":")
    tasks = [upload(host, int(port), body, pause_s) for _ in range(n)]
    return await asyncio.wait_for(asyncio.gather(*tasks), timeout=timeout_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--mb", type=float, default=19.0)
    parser.add_argument("--pause-s", type=float, default=6.0)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.uploads <= 1000 or not 0 < args.mb <= 100:
        parser.error("--uploads must be 1..1000 and --mb 0..100")
    body = body_of(song_wav(args.mb))
    with served({"TAGGER_PROVIDERS": "cpu"}) as (url, pid, _log):
        time.sleep(1.0)
        before = memory_mb(pid)[0]
        t0 = time.monotonic()
        with RssSampler(pid) as sampler:
            answers = asyncio.run(flood(url, args.uploads, body, args.pause_s, args.timeout_s))
        seconds = time.monotonic() - t0
        hwm = memory_mb(pid)[1]
    statuses = Counter(status for status, _ in answers)
    result = {
        "uploads": args.uploads,
        "upload_mb": len(body) / 1e6,
        "pause_s": args.pause_s,
        "statuses": dict(sorted(statuses.items())),
        "retry_after_on_all_503": all(ok for status, ok in answers if status == "503"),
        "seconds": round(seconds, 1),
        "rss_before_mb": round(before),
        "peak_rss_sampled_mb": round(max(rss for _, rss in sampler.samples)),
        "peak_rss_vmhwm_mb": round(hwm),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
