"""Serving benchmark (not a test): ``python -m app.bench [--model NAME] [--concurrency 1,4,16] ...``

For each model it measures, on this machine:

* **served**: the real server (``uvicorn app.main:app`` in a subprocess on a free 127.0.0.1 port,
  one model loaded) under a load generator in another process (``c`` keep-alive connections
  with one request in flight each, ``--requests`` requests per level after ``c`` warm-up
  requests). The default client (``--client raw``) is a minimal HTTP/1.1 client on asyncio
  streams that builds each clip's multipart request once, like wrk: the load generator shares
  the machine's cores with the server, and httpx (``--client httpx``) spends about ten times
  more CPU per request doing the same. Figures: clips/s, p50/p95/p99 latency,
  non-200 answers, the server's RSS after warm-up and after the run, and its peak RSS (VmHWM of
  /proc/<pid>/status: the whole life of the process, start-up and warm-up included).
* **floor**: the same work in-process, without HTTP, multipart, JSON or asyncio: for every
  request ``Tagger.prepare`` (probe, decode, mono, resample, the same evenly spaced chunks) and
  straight ``session.run`` calls on a session built by the service's own
  :class:`app.registry.ModelRegistry` (identical session options, thread counts and number of
  concurrent runs, ``workers``). At ``c = 1`` each clip is decoded, then its chunks are split
  over the ``workers`` inference threads (``ceil(N / workers)`` rows each, at most
  ``max_batch``, as the batcher splits a lone request) and run at once; floor latency is the
  median per-clip time of that. With ``c`` in flight, ``min(c, decode_concurrency)`` decoder
  threads feed ``workers`` inference threads that each run whole clips in batches of
  ``max_batch`` (the server's structure, without its batcher). An untimed pass over the clips
  warms it up first (the server gets warm-up requests too). Floor and served runs alternate
  (floor, served, floor, served, ...), with the server idle during floor runs, and
  ``--repeats`` reports the medians of each side.
* **overhead ratio** = floor clips/s / served clips/s (1.0 = serving costs nothing).
* **onnx_vs_torch** = PyTorch eager time / onnxruntime time for one clip's 16 chunks
  (PyTorch: one batch, one thread per usable core; onnxruntime as served: runs of at most
  ``max_batch`` chunks, ``workers`` at a time), the model rebuilt with ``training.models.build_model`` from the card's
  ``architecture``/``model_config`` (weights from ``--checkpoint`` if given, otherwise random
  initialisation: timing does not depend on the weights). ``null`` with a note when torch or the
  architecture is missing.

Clips are synthetic 29.1 s MP3s (``training.synth.render_clip``, encoded with
``training.data.audio.encode_mp3``) or, with ``--clip-source mtat``, the real MTAT clip of
tests/data. The last line printed is one JSON object (keys ``clips_per_s``, ``p50_ms``,
``p99_ms``, ``floor_clips_per_s``, ``overhead_ratio``, ``onnx_vs_torch``, ``peak_rss_mb`` for
the first model at the highest concurrency, the same per concurrency under ``by_concurrency``,
and every model under ``models``). ``--requests 2000`` checks that RSS stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import io
import json
import multiprocessing
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from app.batching import share_rows
from app.config import DEFAULT_MODELS_DIR, Settings
from app.registry import LoadedModel, ModelRegistry
from app.tagger import Tagger
from training.constants import TOP10_TAGS

REPO = Path(__file__).resolve().parent.parent
MTAT_CLIP = REPO / "tests" / "data" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"


# -- clips -------------------------------------------------------------------------------------
def make_clips(n: int, source: str, seconds: float = 29.1, seed: int = 0) -> list[bytes]:
    """``n`` MP3 uploads: synthetic songs with different tags, or copies of the MTAT clip."""
    if source == "mtat":
        return [MTAT_CLIP.read_bytes()] * n
    from training.data.audio import encode_mp3
    from training.data.synth import render_clip

    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        latent = list(rng.choice(TOP10_TAGS, size=2, replace=False))
        buf = io.BytesIO()
        encode_mp3(render_clip(latent, seed, song=i, segment=0, seconds=seconds), buf)
        clips.append(buf.getvalue())
    return clips


# -- process memory -----------------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory_mb(pid: int) -> dict[str, float]:
    """``{"rss_mb", "hwm_mb"}`` of a process (VmRSS, VmHWM of /proc/<pid>/status)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB -> MiB
    return {"rss_mb": values.get("VmRSS", 0.0), "hwm_mb": values.get("VmHWM", 0.0)}


class RssSampler:
    """Samples a process's VmRSS every ``every_s`` in a thread; :meth:`stop` returns the RSS at
    25, 50, 75 and 100 % of the sampled time (flat = no growth from quartile to quartile)."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_s,), daemon=True)
        self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.is_set():
            self.samples.append(proc_memory_mb(self.pid)["rss_mb"])
            self._stop.wait(every_s)

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join()
        self.samples.append(proc_memory_mb(self.pid)["rss_mb"])
        n = len(self.samples)
        return [
            round(self.samples[min(n - 1, max(0, round(q * n) - 1))], 1)
            for q in (0.25, 0.5, 0.75, 1.0)
        ]


def percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(latencies) * 1000, q)) if latencies else float("nan")


# -- floor: the same work in-process -----------------------------------------------------------
@dataclass
class Floor:
    clips_per_s: float
    p50_ms: float
    requests: int
    cpu_ms: float = float("nan")  # process CPU time per clip


def split_run(model: LoadedModel, chunks: np.ndarray, max_batch: int, pool) -> np.ndarray:
    """``(N, L)`` -> ``(N, K)``: the rows split over ``model.workers`` concurrent runs (the
    batcher's split of a lone request: ``ceil(N / workers)`` rows each, at most ``max_batch``)."""
    size = share_rows(len(chunks), model.workers, max_batch)
    parts = [chunks[i : i + size] for i in range(0, len(chunks), size)]
    if len(parts) == 1:
        return model.run(parts[0])
    return np.concatenate(list(pool.map(model.run, parts)), axis=0)


def floor_run(
    tagger: Tagger, model: LoadedModel, clips: list[bytes], requests: int, c: int
) -> Floor:
    """In-process throughput with ``c`` clips in flight (see the module docstring)."""
    max_batch = model.max_batch
    items = [clips[i % len(clips)] for i in range(requests)]
    cpu0 = time.process_time()
    with concurrent.futures.ThreadPoolExecutor(model.workers) as pool:
        if c <= 1:

            def one(data: bytes) -> np.ndarray:
                chunks = tagger.prepare(data, model, segments=False)[0]
                return split_run(model, chunks, max_batch, pool).mean(axis=0)

            floor = _floor_sequential(one, items)
        else:
            floor = _floor_pipelined(
                lambda data: tagger.prepare(data, model, segments=False)[0],
                lambda chunks: model.run_batched(chunks, max_batch).mean(axis=0),
                items,
                c,
                decoders=min(c, tagger.settings.decoders),
                inferers=model.workers,
            )
    floor.cpu_ms = 1000 * (time.process_time() - cpu0) / requests
    return floor


def _floor_sequential(one: Callable[[bytes], np.ndarray], items: list[bytes]) -> Floor:
    times = []
    t0 = time.perf_counter()
    for data in items:
        t = time.perf_counter()
        one(data)
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    return Floor(len(items) / wall, percentile_ms(times, 50), len(items))


def _floor_pipelined(
    prepare: Callable[[bytes], np.ndarray],
    infer: Callable[[np.ndarray], np.ndarray],
    items: list[bytes],
    c: int,
    decoders: int,
    inferers: int,
) -> Floor:
    """``decoders`` threads prepare clips (at most ``c`` prepared and waiting), ``inferers``
    threads run them."""
    ready: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=c)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(decoders) as pool:

        def feed() -> None:
            for chunks in pool.map(prepare, items):
                ready.put(chunks)
            for _ in range(inferers):
                ready.put(None)  # one stop mark per inference thread

        def drain() -> None:
            while (chunks := ready.get()) is not None:
                infer(chunks)

        threads = [threading.Thread(target=feed, daemon=True)]
        threads += [threading.Thread(target=drain, daemon=True) for _ in range(inferers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    wall = time.perf_counter() - t0
    return Floor(len(items) / wall, float("nan"), len(items))


# -- PyTorch eager vs onnxruntime ---------------------------------------------------------------
def torch_comparison(
    model: LoadedModel, batch: int, threads: int, checkpoint: Path | None, repeats: int = 5
) -> dict[str, Any]:
    """PyTorch eager (``threads`` threads) vs onnxruntime as served, on one ``batch``."""
    """Median time of one ``(batch, chunk_samples)`` run in PyTorch eager and in onnxruntime."""
    card = model.card.model_dump()
    arch = card.get("architecture")
    try:
        import torch

        from training.models import MODELS, build_model
    except ImportError as exc:
        return {"onnx_vs_torch": None, "note": f"skipped: torch is not importable ({exc})"}
    if arch not in MODELS:
        return {
            "onnx_vs_torch": None,
            "note": f"skipped: architecture {arch!r} is not in training.models "
            f"({', '.join(MODELS)})",
        }
    torch.set_num_threads(threads)
    net = build_model(arch, n_tags=len(model.tags), **(card.get("model_config") or {}))
    weights = "random initialisation (timing is weight-independent)"
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state.get("model_name", arch) != arch:
            weights = (
                f"random initialisation (checkpoint {checkpoint.name} is a "
                f"{state.get('model_name')!r}, not {arch!r}; timing is weight-independent)"
            )
        else:
            sd = state.get("state_dict", state)
            net.load_state_dict(
                {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in sd.items()}
            )
            weights = f"weights of checkpoint {checkpoint}"
    net.eval()
    x = np.random.default_rng(0).standard_normal((batch, model.chunk_samples)).astype(np.float32)
    xt = torch.from_numpy(x)

    def timed(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return float(np.median(times))

    with torch.inference_mode():
        torch_s = timed(lambda: torch.sigmoid(net(xt)))
    with concurrent.futures.ThreadPoolExecutor(model.workers) as pool:
        onnx_s = timed(lambda: split_run(model, x, model.max_batch, pool))
    return {
        "onnx_vs_torch": torch_s / onnx_s,
        "torch_ms": torch_s * 1000,
        "onnx_ms": onnx_s * 1000,
        "batch": batch,
        "note": f"PyTorch eager {torch.__version__}, {threads} threads, {weights}; "
        f"onnxruntime {model.workers} concurrent run(s)",
    }


# -- the server and the load generator ----------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``uvicorn app.main:app`` on 127.0.0.1 with one model, as a subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path, timeout_s: float = 120) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning"],
                cwd=log_path.parent,
                env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        import httpx

        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited ({self.proc.returncode}):\n{log_path.read_text()}"
                )
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server not ready in {timeout_s} s:\n{log_path.read_text()}")
            time.sleep(0.2)

    def memory(self) -> dict[str, float]:
        return proc_memory_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def load_generator(
    url: str, clip_paths: list[str], concurrency: int, requests: int, client: str = "raw"
) -> dict:
    """Runs in its own process: ``requests`` POST /predict with ``concurrency`` in flight."""
    clips = [Path(p).read_bytes() for p in clip_paths]
    run = _raw_load if client == "raw" else _httpx_load
    try:
        import uvloop

        return uvloop.run(run(url, clips, concurrency, requests))
    except ImportError:
        return asyncio.run(run(url, clips, concurrency, requests))


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


async def _raw_load(url: str, clips: list[bytes], concurrency: int, requests: int) -> dict:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payloads = [
        multipart_request(host, port, "/predict", clip, f"clip{i}.mp3")
        for i, clip in enumerate(clips)
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


async def _httpx_load(url: str, clips: list[bytes], concurrency: int, requests: int) -> dict:
    import httpx

    tally = _Tally()
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def worker() -> None:
            for i in counter:
                files = {"file": (f"clip{i}.mp3", clips[i % len(clips)], "audio/mpeg")}
                t = time.perf_counter()
                r = await client.post("/predict", files=files)
                tally.record(r.status_code, time.perf_counter() - t)

        return await tally.run([worker() for _ in range(concurrency)])


def fetch_metrics(url: str) -> dict[str, float]:
    """A few server-side figures from /prometheus (mean batch size, queue time, runs)."""
    import httpx

    text = httpx.get(url + "/prometheus", timeout=10).text
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in (
            "tagger_batch_size_sum",
            "tagger_batch_size_count",
            "tagger_inference_queue_duration_seconds_sum",
            "tagger_inference_queue_duration_seconds_count",
            "tagger_inference_request_failure_total",
        ):
            sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


# -- one model ---------------------------------------------------------------------------------
@dataclass
class Level:
    concurrency: int
    requests: int
    repeats: int
    clips_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: dict[str, int]
    floor_clips_per_s: float
    floor_p50_ms: float | None
    overhead_ratio: float
    latency_ratio: float | None
    mean_batch: float
    mean_queue_ms: float
    rss_after_warmup_mb: float
    rss_after_mb: float
    peak_rss_mb: float
    rss_quartiles_mb: list[float]
    server_cpu_ms: float  # server CPU time per request (all threads)
    client_cpu_ms: float  # load generator CPU time per request (it shares the cores)
    floor_cpu_ms: float  # CPU time per clip of the floor (all threads of this process)
    onnx_vs_torch: float | None = None


SETTING_FLAGS = (
    "max_batch",
    "batch_wait_ms",
    "intra_op_threads",
    "inference_threads",
    "max_queue",
    "decode_concurrency",
)
"""Flags passed to the server (and the floor) as ``TAGGER_<NAME>`` settings."""


def bench_model(args: argparse.Namespace, name: str, clips: list[bytes], work: Path) -> dict:
    env = {
        "TAGGER_MODELS_DIR": str(args.models_dir),
        "TAGGER_DEFAULT_MODEL": name,
        "TAGGER_PROVIDERS": args.providers,
        "TAGGER_LOG_LEVEL": "WARNING",
    }
    for key in SETTING_FLAGS:
        value = getattr(args, key)
        if value is not None:
            env[f"TAGGER_{key.upper()}"] = str(value)
    # The floor uses the service's own settings (same env), session options and decoding.
    settings = Settings(**{k.removeprefix("TAGGER_").lower(): v for k, v in env.items()})
    registry = ModelRegistry(settings)
    tagger = Tagger(settings, registry)
    model = registry.get(name)
    cuda = model.provider == "CUDAExecutionProvider"
    print(
        f"\n== {name} ({model.card.architecture}, {model.provider}, chunk "
        f"{model.chunk_samples} samples, max_batch {model.max_batch}, {model.workers} "
        f"concurrent run(s) x {settings.intra_op(cuda)} intra-op thread(s), decoders "
        f"{settings.decoders}, client {args.client}); load "
        f"{os.getloadavg()[0]:.2f} ==",
        flush=True,
    )
    print(HEADER, flush=True)
    torch_info = (
        torch_comparison(model, 16, settings.cores, args.checkpoint)
        if not args.no_torch
        else {"onnx_vs_torch": None, "note": "skipped (--no-torch)"}
    )
    floor_requests = min(args.requests, args.floor_requests or args.requests)
    floor_run(tagger, model, clips, len(clips), 1)  # warm-up, as the server gets (untimed)

    paths = []
    for i, data in enumerate(clips):
        p = work / f"clip{i}.mp3"
        p.write_bytes(data)
        paths.append(str(p))
    levels: list[Level] = []
    server = Server(env, work / f"server-{name}.log")
    ctx = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as loadgen:
            for c in args.concurrency:
                # Warm-up: c requests (first connections, first batches of this size).
                loadgen.submit(load_generator, server.url, paths, c, c, args.client).result()
                warm = server.memory()
                before = fetch_metrics(server.url)
                sampler = RssSampler(server.proc.pid)
                # Floor and served runs alternate, so a change in the machine's background
                # load (it is shared) moves both sides of the ratio alike.
                outs, floors, server_cpu_s = [], [], 0.0
                for _ in range(args.repeats):
                    floors.append(floor_run(tagger, model, clips, floor_requests, c))
                    cpu0 = proc_cpu_s(server.proc.pid)
                    outs.append(
                        loadgen.submit(
                            load_generator, server.url, paths, c, args.requests, args.client
                        ).result()
                    )
                    server_cpu_s += proc_cpu_s(server.proc.pid) - cpu0
                rss_curve = sampler.stop()
                served_n = sum(sum(o["statuses"].values()) for o in outs)
                server_cpu_ms = 1000 * server_cpu_s / served_n
                floor = Floor(
                    float(np.median([f.clips_per_s for f in floors])),
                    float(np.median([f.p50_ms for f in floors])),
                    floor_requests,
                    float(np.median([f.cpu_ms for f in floors])),
                )
                client_cpu_ms = 1000 * sum(o["cpu_s"] for o in outs) / served_n
                # The median repeat by throughput (its latencies and errors come with it).
                out = sorted(outs, key=lambda o: len(o["latencies"]) / o["wall_s"])[len(outs) // 2]
                after = fetch_metrics(server.url)
                mem = server.memory()

                def delta(key: str, a=after, b=before) -> float:
                    return a.get(key, 0.0) - b.get(key, 0.0)

                lat = out["latencies"]
                served = len(lat) / out["wall_s"]
                errors = {k: v for k, v in out["statuses"].items() if k != "200"}
                runs = delta("tagger_batch_size_count")
                queued = delta("tagger_inference_queue_duration_seconds_count")
                level = Level(
                    concurrency=c,
                    requests=args.requests,
                    repeats=args.repeats,
                    clips_per_s=served,
                    p50_ms=percentile_ms(lat, 50),
                    p95_ms=percentile_ms(lat, 95),
                    p99_ms=percentile_ms(lat, 99),
                    errors=errors,
                    floor_clips_per_s=floor.clips_per_s,
                    floor_p50_ms=floor.p50_ms if c == 1 else None,
                    overhead_ratio=floor.clips_per_s / served if served else float("inf"),
                    latency_ratio=percentile_ms(lat, 50) / floor.p50_ms if c == 1 else None,
                    mean_batch=delta("tagger_batch_size_sum") / runs if runs else 0.0,
                    mean_queue_ms=1000
                    * delta("tagger_inference_queue_duration_seconds_sum")
                    / queued
                    if queued
                    else 0.0,
                    rss_after_warmup_mb=warm["rss_mb"],
                    rss_after_mb=mem["rss_mb"],
                    rss_quartiles_mb=rss_curve,
                    server_cpu_ms=server_cpu_ms,
                    client_cpu_ms=client_cpu_ms,
                    floor_cpu_ms=floor.cpu_ms,
                    peak_rss_mb=mem["hwm_mb"],
                    onnx_vs_torch=torch_info["onnx_vs_torch"],
                )
                levels.append(level)
                print(format_row(level), flush=True)
    finally:
        server.stop()
    for lv in levels:
        print(f"   c={lv.concurrency}: RSS at 25/50/75/100 % of the run: {lv.rss_quartiles_mb} MB")
    print(f"   torch: {torch_info['note']}", flush=True)
    del tagger, registry, model
    return {"levels": levels, "torch": torch_info, "load_avg": os.getloadavg()}


HEADER = (
    f"{'conc':>4} {'req':>5} {'clips/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    f"{'floor/s':>8} {'floor p50':>9} {'overhead':>8} {'p50/floor':>9} {'batch':>5} "
    f"{'queue ms':>8} {'RSS warm':>8} {'RSS end':>8} {'RSS peak':>8} {'onnx/torch':>10} "
    f"{'cpu ms srv/cli/floor':>20} errors"
)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def format_row(lv: Level) -> str:
    return (
        f"{lv.concurrency:>4} {lv.requests:>5} {lv.clips_per_s:>8.2f} {lv.p50_ms:>8.0f} "
        f"{lv.p95_ms:>8.0f} {lv.p99_ms:>8.0f} {lv.floor_clips_per_s:>8.2f} "
        f"{_fmt(lv.floor_p50_ms, '>9.0f'):>9} {lv.overhead_ratio:>8.2f} "
        f"{_fmt(lv.latency_ratio, '>9.2f'):>9} {lv.mean_batch:>5.1f} {lv.mean_queue_ms:>8.1f} "
        f"{lv.rss_after_warmup_mb:>8.0f} {lv.rss_after_mb:>8.0f} {lv.peak_rss_mb:>8.0f} "
        f"{_fmt(lv.onnx_vs_torch, '>10.2f'):>10} "
        f"{f'{lv.server_cpu_ms:.0f}/{lv.client_cpu_ms:.0f}/{lv.floor_cpu_ms:.0f}':>20} "
        f"{lv.errors or ''}"
    )


def summarize(results: dict[str, dict]) -> dict[str, Any]:
    """The final JSON line: first model's highest concurrency at the top, everything nested."""
    models: dict[str, Any] = {}
    for name, res in results.items():
        levels: list[Level] = res["levels"]
        by_c = {str(lv.concurrency): asdict(lv) for lv in levels}
        top = asdict(levels[-1])
        one = next((lv for lv in levels if lv.concurrency == 1), None)
        sixteen = next((lv for lv in levels if lv.concurrency == 16), None)
        models[name] = {
            **{k: top[k] for k in KEYS},
            "concurrency": top["concurrency"],
            "by_concurrency": by_c,
            "torch": res["torch"],
            "load_avg": res["load_avg"],
            "goals": {
                "c16_within_10pct_of_floor": None
                if sixteen is None
                else sixteen.overhead_ratio <= 1.1,
                "c1_p50_at_most_1.3x_floor": None if one is None else one.latency_ratio <= 1.3,
                "rss_at_most_600mb": max(lv.peak_rss_mb for lv in levels) <= 600,
            },
        }
    first = next(iter(models.values()))
    return {**{k: first[k] for k in (*KEYS, "concurrency", "by_concurrency")}, "models": models}


KEYS = (
    "clips_per_s",
    "p50_ms",
    "p99_ms",
    "floor_clips_per_s",
    "overhead_ratio",
    "onnx_vs_torch",
    "peak_rss_mb",
    "rss_after_warmup_mb",
    "rss_after_mb",
)


def _finite(obj: Any) -> Any:
    """NaN/inf -> None, so the JSON line is strict JSON."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m app.bench", description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", help="model name (repeatable or comma-separated; "
                   "default: the service's default model, 'all' = every model)")  # fmt: skip
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    p.add_argument("--clips", type=int, default=8, help="distinct clips (default 8)")
    p.add_argument("--concurrency", default="1,4,16", help="levels, e.g. 1,4,16")
    p.add_argument("--requests", type=int, default=128, help="requests per level (default 128)")
    p.add_argument("--floor-requests", type=int, default=None,
                   help="at most this many requests per floor measurement (default: --requests)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=1,
                   help="repeat each served and floor measurement, report the median")  # fmt: skip
    p.add_argument("--clip-source", choices=("synth", "mtat"), default="synth")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw",
                   help="load generator: minimal asyncio HTTP/1.1 client (default) or httpx")  # fmt: skip
    p.add_argument("--providers", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--max-batch", type=int, default=None)
    p.add_argument("--batch-wait-ms", type=float, default=None)
    p.add_argument("--intra-op-threads", type=int, default=None)
    p.add_argument("--inference-threads", type=int, default=None)
    p.add_argument("--max-queue", type=int, default=None)
    p.add_argument("--decode-concurrency", type=int, default=None)
    p.add_argument("--checkpoint", type=Path, default=None, help="torch weights for the torch run")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch eager comparison")
    p.add_argument("--smoke", action="store_true",
                   help="tiny run: --clips 2 --concurrency 1 --requests 4, 5 s clips")  # fmt: skip
    p.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.smoke:
        args.clips, args.concurrency, args.requests = 2, "1", 4
    try:
        args.concurrency = sorted({int(c) for c in str(args.concurrency).split(",") if c.strip()})
    except ValueError:
        p.error(f"--concurrency takes integers like 1,4,16, got {args.concurrency!r}")
    if not args.concurrency or min(args.concurrency) < 1:
        p.error("--concurrency levels must be >= 1")
    if args.clips < 1 or args.requests < 1 or args.repeats < 1:
        p.error("--clips, --requests and --repeats must be >= 1")
    if args.floor_requests is not None and args.floor_requests < 1:
        p.error("--floor-requests must be >= 1")
    overrides = {k: getattr(args, k) for k in SETTING_FLAGS if getattr(args, k) is not None}
    try:
        Settings(**overrides)  # the server would refuse the same values at start-up
    except ValidationError as exc:
        p.error("; ".join(f"--{e['loc'][0].replace('_', '-')}: {e['msg']}" for e in exc.errors()))
    args.models_dir = args.models_dir.resolve()
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    registry = ModelRegistry(Settings(models_dir=args.models_dir))
    names = [n for item in args.model or [] for n in item.split(",") if n]
    if not names:
        names = [registry.choose_default()]
    elif names == ["all"]:
        names = registry.names()
    for n in names:
        registry.check_name(n)  # a clear error listing the valid names
    seconds = 5.0 if args.smoke else 29.1
    t = time.perf_counter()
    clips = make_clips(args.clips, args.clip_source, seconds=seconds)
    print(
        f"{len(clips)} {args.clip_source} clips of {seconds} s "
        f"({np.mean([len(c) for c in clips]) / 1024:.0f} KiB MP3 on average) in "
        f"{time.perf_counter() - t:.1f} s; {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="tagger-bench-") as tmp:
        for name in names:
            results[name] = bench_model(args, name, clips, Path(tmp))
    summary = _finite(summarize(results))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
