"""One model's benchmark: at each concurrency level, floor and served runs alternate."""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.config import Settings
from app.registry import LoadedModel, ModelRegistry
from app.tagger import Tagger
from benchmarks.serving.client import load_generator
from benchmarks.serving.floor import Floor, floor_run
from benchmarks.serving.measure import RssSampler, percentile_ms, proc_cpu_s
from benchmarks.serving.report import HEADER, Level, format_row
from benchmarks.serving.server import Server, fetch_metrics, server_env
from benchmarks.serving.torch_compare import torch_comparison


def bench_model(args: argparse.Namespace, name: str, clips: list[bytes], work: Path) -> dict:
    """Floor, served and torch figures of model ``name`` at every ``--concurrency`` level:
    ``{"levels": [Level], "torch": {...}, "load_avg": (1, 5, 15 min)}``."""
    env = server_env(args, name)
    # The floor uses the service's own settings (same env), session options and decoding.
    settings = Settings(**{k.removeprefix("TAGGER_").lower(): v for k, v in env.items()})
    registry = ModelRegistry(settings)
    tagger = Tagger(settings, registry)
    model = registry.get(name)
    print_banner(args, name, model, settings)
    torch_info = (
        torch_comparison(model, 16, settings.cores, args.checkpoint)
        if not args.no_torch
        else {"onnx_vs_torch": None, "note": "skipped (--no-torch)"}
    )
    floor_requests = min(args.requests, args.floor_requests or args.requests)
    floor_run(tagger, model, clips, len(clips), 1)  # warm-up, as the server gets (untimed)

    paths = write_clips(clips, work)
    levels: list[Level] = []
    server = Server(env, work / f"server-{name}.log")
    ctx = multiprocessing.get_context("spawn")
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as loadgen:
            for c in args.concurrency:
                floor_once = functools.partial(floor_run, tagger, model, clips, floor_requests, c)
                serve = functools.partial(served_run, loadgen, server.url, paths, c, args.client)
                level = measure_level(
                    args, c, server, floor_once, serve, floor_requests, torch_info["onnx_vs_torch"]
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


def print_banner(
    args: argparse.Namespace, name: str, model: LoadedModel, settings: Settings
) -> None:
    """The model's line (provider, chunking, threads, client, load) and the table header."""
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


def write_clips(clips: list[bytes], work: Path) -> list[str]:
    """The clips as files ``work/clip<i>.mp3`` for the load generator's process."""
    paths = []
    for i, data in enumerate(clips):
        p = work / f"clip{i}.mp3"
        p.write_bytes(data)
        paths.append(str(p))
    return paths


def served_run(
    loadgen: concurrent.futures.Executor,
    url: str,
    paths: list[str],
    c: int,
    client: str,
    requests: int,
) -> dict:
    """``requests`` POST /predict with ``c`` in flight, from the load generator's process."""
    return loadgen.submit(load_generator, url, paths, c, requests, client).result()


def measure_level(
    args: argparse.Namespace,
    c: int,
    server: Server,
    floor_once: Callable[[], Floor],
    serve: Callable[[int], dict],
    floor_requests: int,
    onnx_vs_torch: float | None,
) -> Level:
    """``c`` warm-up requests, then ``--repeats`` floor and served runs in turn."""
    serve(c)  # Warm-up: c requests (first connections, first batches of this size).
    warm = server.memory()
    before = fetch_metrics(server.url)
    sampler = RssSampler(server.proc.pid)
    # Floor and served runs alternate, so a change in the machine's background
    # load (it is shared) moves both sides of the ratio alike.
    outs, floors, server_cpu_s = [], [], 0.0
    for _ in range(args.repeats):
        floors.append(floor_once())
        cpu0 = proc_cpu_s(server.proc.pid)
        outs.append(serve(args.requests))
        server_cpu_s += proc_cpu_s(server.proc.pid) - cpu0
    rss_curve = sampler.stop()
    served_n = sum(sum(o["statuses"].values()) for o in outs)
    floor = median_floor(floors, floor_requests)
    # The median repeat by throughput (its latencies and errors come with it).
    out = sorted(outs, key=lambda o: len(o["latencies"]) / o["wall_s"])[len(outs) // 2]
    after = fetch_metrics(server.url)
    mem = server.memory()
    mean_batch, mean_queue_ms = batcher_figures(before, after)
    lat = out["latencies"]
    served = len(lat) / out["wall_s"]
    return Level(
        concurrency=c,
        requests=args.requests,
        repeats=args.repeats,
        clips_per_s=served,
        p50_ms=percentile_ms(lat, 50),
        p95_ms=percentile_ms(lat, 95),
        p99_ms=percentile_ms(lat, 99),
        errors={k: v for k, v in out["statuses"].items() if k != "200"},
        floor_clips_per_s=floor.clips_per_s,
        floor_p50_ms=floor.p50_ms if c == 1 else None,
        overhead_ratio=floor.clips_per_s / served if served else float("inf"),
        latency_ratio=percentile_ms(lat, 50) / floor.p50_ms if c == 1 else None,
        mean_batch=mean_batch,
        mean_queue_ms=mean_queue_ms,
        rss_after_warmup_mb=warm["rss_mb"],
        rss_after_mb=mem["rss_mb"],
        rss_quartiles_mb=rss_curve,
        server_cpu_ms=1000 * server_cpu_s / served_n,
        client_cpu_ms=1000 * sum(o["cpu_s"] for o in outs) / served_n,
        floor_cpu_ms=floor.cpu_ms,
        peak_rss_mb=mem["hwm_mb"],
        onnx_vs_torch=onnx_vs_torch,
    )


def median_floor(floors: list[Floor], requests: int) -> Floor:
    """The medians of the repeated floor runs, figure by figure."""
    return Floor(
        float(np.median([f.clips_per_s for f in floors])),
        float(np.median([f.p50_ms for f in floors])),
        requests,
        float(np.median([f.cpu_ms for f in floors])),
    )


def batcher_figures(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """Mean batch size and mean queue time (ms) of the server's runs between two scrapes."""

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    runs = delta("tagger_batch_size_count")
    queued = delta("tagger_inference_queue_duration_seconds_count")
    mean_batch = delta("tagger_batch_size_sum") / runs if runs else 0.0
    mean_queue_ms = (
        1000 * delta("tagger_inference_queue_duration_seconds_sum") / queued if queued else 0.0
    )
    return mean_batch, mean_queue_ms
