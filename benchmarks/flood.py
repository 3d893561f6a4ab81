"""Upload flood against a real server: peak and settled RSS, status counts (docs/SECURITY.md).

Starts ``uvicorn app.main:app`` on a free 127.0.0.1 port (one model loaded), measures its RSS
before, sends ``--uploads`` concurrent ``POST /predict`` of one large WAV (``--mb`` MB, 44.1 kHz
stereo PCM16, the size of a CD-quality song), samples RSS every 50 ms while they run and for
``--settle-s`` after the last answer, and reports: statuses (every one must be 200 or 503 with
``Retry-After``), peak RSS (``VmHWM`` and the sampled maximum), RSS at the end of the settle
time, and how long RSS took to come back within 20 % of its pre-flood value::

    python -m benchmarks.flood --uploads 200 --mb 19 --out reports/hardening/flood_200x19MB

All traffic goes to 127.0.0.1; the run is bounded in count (``--uploads``) and time
(``--timeout-s``). The client writes each body in 256 KiB pieces so the load generator
itself never buffers more than a few pieces per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
PIECE = 256 * 1024
BOUNDARY = "floodb0undary"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(env: dict[str, str], ready_s: float = 120.0) -> Iterator[tuple[str, int, Path]]:
    """A uvicorn server of ``app.main:app`` on 127.0.0.1 with ``env`` added: ``(url, pid,
    log path)``, once ``/readyz`` answers 200; terminated on exit."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="tagger-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-server-header", "--no-access-log"]
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            cwd=tempfile.gettempdir(),  # the app must not depend on the working directory
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
            with suppress(OSError):
                if urllib.request.urlopen(url + "/readyz", timeout=2).status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready in {ready_s:g} s:\n{log.read_text()}")
            time.sleep(0.2)
        yield url, proc.pid, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def memory_mb(pid: int) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of a process in MB, from ``/proc/<pid>/status``."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


class RssSampler:
    """Samples a process's RSS every ``interval_s`` in a thread: ``[(t, rss_mb)]``."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with suppress(OSError, KeyError):
                self.samples.append((time.monotonic(), memory_mb(self.pid)[0]))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def song_wav(megabytes: float, seed: int = 0) -> bytes:
    """A 44.1 kHz stereo PCM16 WAV of about ``megabytes`` MB: chords with noise."""
    sr = 44_100
    n = int(megabytes * 1e6 / 4)
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float32) / sr
    x = sum(0.12 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    x = (x + 0.02 * rng.standard_normal(n).astype(np.float32)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([x, 0.8 * x], axis=1), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def multipart(payload: bytes, filename: str = "song.wav") -> tuple[bytes, bytes]:
    """``(head, tail)`` around the file bytes of a one-part ``multipart/form-data`` body."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: audio/wav\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


async def _send_body(writer: asyncio.StreamWriter, parts: tuple[bytes, ...]) -> None:
    for part in parts:
        view = memoryview(part)
        for i in range(0, len(view), PIECE):
            writer.write(view[i : i + PIECE])
            await writer.drain()


async def post_upload(
    host: str, port: int, path: str, payload: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One ``POST`` of ``payload`` as the ``file`` part; ``(status, headers, body)``. The
    response is read while the body is still being written (a 503 arrives before the body
    is sent), and the connection is closed after the answer."""
    reader, writer = await asyncio.open_connection(host, port)
    head, tail = multipart(payload)
    length = len(head) + len(payload) + len(tail)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{extra}\r\n"
    ).encode()
    sender = asyncio.create_task(_send_body(writer, (request, head, payload, tail)))
    try:
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        answer: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            answer[key.strip().lower()] = value.strip()
        body = await reader.readexactly(int(answer.get("content-length", 0)))
        return status, answer, body
    finally:
        sender.cancel()
        with suppress(asyncio.CancelledError, ConnectionError):
            await sender
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


@dataclass
class FloodResult:
    uploads: int
    upload_mb: float
    statuses: dict[str, int]
    retry_after_on_all_503: bool
    other_answers: list[str]
    flood_s: float
    rss_before_mb: float
    peak_rss_sampled_mb: float
    peak_rss_vmhwm_mb: float
    rss_settled_mb: float
    settle_s: float
    back_within_20pct_s: float | None
    settings: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        back = (
            f"{self.back_within_20pct_s:.1f} s"
            if self.back_within_20pct_s is not None
            else f"not within {self.settle_s:g} s"
        )
        return "\n".join(
            [
                f"{self.uploads} concurrent uploads of {self.upload_mb:.1f} MB in "
                f"{self.flood_s:.1f} s: statuses {self.statuses}; Retry-After on every 503: "
                f"{self.retry_after_on_all_503}",
                f"RSS before {self.rss_before_mb:.0f} MB, peak {self.peak_rss_sampled_mb:.0f} MB "
                f"sampled / {self.peak_rss_vmhwm_mb:.0f} MB VmHWM, {self.rss_settled_mb:.0f} MB "
                f"after {self.settle_s:g} s; back within 20 % of before: {back}",
            ]
        )


async def _flood(url: str, n: int, payload: bytes, timeout_s: float) -> list[object]:
    host, port = url.removeprefix("http://").split(":")
    tasks = [post_upload(host, int(port), "/predict", payload) for _ in range(n)]
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=timeout_s)


def flood(
    env: dict[str, str],
    uploads: int,
    megabytes: float,
    settle_s: float = 30.0,
    timeout_s: float = 600.0,
) -> FloodResult:
    """Run the flood against a fresh server started with ``env`` (see the module docstring)."""
    payload = song_wav(megabytes)
    with served(env) as (url, pid, _log):
        # One warm request, then the baseline: what the served model costs at rest.
        answers = asyncio.run(_flood(url, 1, payload, timeout_s))
        time.sleep(1.0)
        rss_before = memory_mb(pid)[0]
        with RssSampler(pid) as sampler:
            t0 = time.monotonic()
            answers = asyncio.run(_flood(url, uploads, payload, timeout_s))
            t_end = time.monotonic()
            time.sleep(settle_s)
        rss_settled, hwm = memory_mb(pid)
    statuses: Counter[str] = Counter()
    others, retry_ok = [], True
    for answer in answers:
        if isinstance(answer, BaseException):
            statuses[type(answer).__name__] += 1
            continue
        status, headers, body = answer
        statuses[str(status)] += 1
        if status == 503:
            retry_ok &= headers.get("retry-after", "").isdigit()
        elif status != 200:
            others.append(f"{status}: {body[:200].decode('utf-8', 'replace')}")
    back = next(
        (t - t_end for t, rss in sampler.samples if t >= t_end and rss <= 1.2 * rss_before),
        None,
    )
    return FloodResult(
        uploads=uploads,
        upload_mb=len(payload) / 1e6,
        statuses=dict(sorted(statuses.items())),
        retry_after_on_all_503=retry_ok,
        other_answers=others[:10],
        flood_s=t_end - t0,
        rss_before_mb=rss_before,
        peak_rss_sampled_mb=max(rss for _, rss in sampler.samples),
        peak_rss_vmhwm_mb=hwm,
        rss_settled_mb=rss_settled,
        settle_s=settle_s,
        back_within_20pct_s=back,
        settings={k: v for k, v in env.items() if k.startswith("TAGGER_")},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flood", description=__doc__)
    parser.add_argument("--uploads", type=int, default=200, help="concurrent uploads")
    parser.add_argument("--mb", type=float, default=19.0, help="size of each upload in MB")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--model", default="", help="default model (empty: the service's)")
    parser.add_argument("--settle-s", type=float, default=30.0)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=None, help="write OUT.json and OUT.txt")
    args = parser.parse_args(argv)
    if not 1 <= args.uploads <= 1000 or not 0 < args.mb <= 100:
        parser.error("--uploads must be 1..1000 and --mb 0..100")
    env = {"TAGGER_PROVIDERS": "cpu", "TAGGER_DEFAULT_MODEL": args.model}
    if args.models_dir is not None:
        env["TAGGER_MODELS_DIR"] = str(args.models_dir.resolve())
    result = flood(env, args.uploads, args.mb, args.settle_s, args.timeout_s)
    text = result.summary()
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps(asdict(result), indent=2) + "\n")
        command = "python -m benchmarks.flood " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        args.out.with_suffix(".txt").write_text(f"$ {command}\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
