"""The floor: the served work in-process (decode, resample, chunk, run) with the server's threads."""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.batching import share_rows
from app.registry import LoadedModel
from app.tagger import Tagger
from benchmarks.serving.measure import percentile_ms
from tagging.chunks import Chunks


@dataclass
class Floor:
    clips_per_s: float
    p50_ms: float
    requests: int
    cpu_ms: float = float("nan")  # process CPU time per clip


def split_run(model: LoadedModel, chunks: np.ndarray | Chunks, max_batch: int, pool) -> np.ndarray:
    """``(N, L)`` -> ``(N, K + D)`` (:meth:`LoadedModel.run`): the rows split over ``model.workers`` concurrent runs (the
    batcher's split of a lone request: ``ceil(N / workers)`` rows each, at most ``max_batch``;
    lazy chunks: each run cuts its own rows, as the batcher does)."""
    n, take = len(chunks), Chunks.of(chunks).rows  # an array is wrapped without a copy
    size = share_rows(n, model.workers, max_batch)

    def part(i: int) -> np.ndarray:
        return model.run(take(i, min(i + size, n)))

    if size >= n:
        return part(0)
    return np.concatenate(list(pool.map(part, range(0, n, size))), axis=0)


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
    prepare: Callable[[bytes], Chunks],
    infer: Callable[[Chunks], np.ndarray],
    items: list[bytes],
    c: int,
    decoders: int,
    inferers: int,
) -> Floor:
    """``decoders`` threads prepare clips (at most ``c`` prepared and waiting), ``inferers``
    threads run them."""
    ready: queue.Queue[Chunks | None] = queue.Queue(maxsize=c)
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
