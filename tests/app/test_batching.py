"""Dynamic batching, the bounded queue, bounded decoding and runtime metrics.

The batcher is tested directly with an injected model whose runs can be held at a gate (so
concurrency is forced, not hoped for), and through the app with real onnxruntime sessions.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import app.registry
from app.batching import Batcher, bucket_size, bucket_sizes
from app.config import Settings
from app.errors import QueueFullError
from app.http_errors import headers_of, status_of
from app.main import create_app
from app.observability import ServiceMetrics
from app.tagger import Tagger
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, tone


# -- the batcher on its own --------------------------------------------------------------------
class GatedModel:
    """(B, L) -> (B, 2): [row mean, row max]; runs can be held until the gate opens."""

    def __init__(self, hold: bool = False) -> None:
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.started = threading.Event()
        self.shapes: list[int] = []
        self.fail_next = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.shapes.append(len(x))
        self.started.set()
        assert self.gate.wait(30), "gate never opened"
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model exploded")
        return np.stack([x.mean(axis=1), x.max(axis=1)], axis=1).astype(np.float32)


def expected(x: np.ndarray) -> np.ndarray:
    return np.stack([x.mean(axis=1), x.max(axis=1)], axis=1).astype(np.float32)


def make_batcher(model: GatedModel, **kw) -> Batcher:
    args = dict(max_batch=8, max_queue=64, max_wait_s=0.0, bucket=False)
    args.update(kw)
    return Batcher("m", "CPUExecutionProvider", model, n_outputs=2, **args)


def chunks(n: int, seed: int, length: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, length)).astype(np.float32)


async def submit(b: Batcher, x: np.ndarray) -> np.ndarray:
    return await b.run(b.admit(len(x)), x)


def run_then_close(b: Batcher, scenario):
    """Run an async scenario against ``b``, then stop its threads whatever happened."""
    try:
        return asyncio.run(scenario())
    finally:
        b.close()


def assert_own_rows(xs: list[np.ndarray], results: list[np.ndarray]) -> None:
    """Every request got exactly its own rows' outputs, in its own order."""
    for x, got in zip(xs, results, strict=True):
        np.testing.assert_array_equal(got, expected(x))


def test_bucket_sizes() -> None:
    assert [bucket_size(n, 16) for n in (1, 2, 3, 5, 9, 16)] == [1, 2, 4, 8, 16, 16]
    assert bucket_size(7, 6) == 6
    assert bucket_sizes(16) == [1, 2, 4, 8, 16] and bucket_sizes(12) == [1, 2, 4, 8, 12]


def test_requests_queued_during_a_run_share_the_next_run() -> None:
    model = GatedModel(hold=True)
    b = make_batcher(model, max_batch=16)
    xs = [chunks(n, seed) for seed, n in enumerate((3, 5, 2, 4))]

    async def scenario() -> list[np.ndarray]:
        first = asyncio.ensure_future(submit(b, xs[0]))
        await asyncio.to_thread(model.started.wait, 10)  # run 1 (request 0) is in flight
        rest = [asyncio.ensure_future(submit(b, x)) for x in xs[1:]]
        await asyncio.sleep(0.05)
        model.gate.set()
        return await asyncio.gather(first, *rest)

    assert_own_rows(xs, run_then_close(b, scenario))
    runs = list(b.stats.history)
    assert [r.rows for r in runs] == [3, 11] and runs[1].requests == 3
    assert model.shapes == [3, 11]


def test_large_requests_are_split_and_reassembled_in_order() -> None:
    model = GatedModel(hold=True)
    b = make_batcher(model, max_batch=4)
    xs = [chunks(10, 1), chunks(3, 2), chunks(1, 3)]

    async def scenario() -> list[np.ndarray]:
        futures = [asyncio.ensure_future(submit(b, x)) for x in xs]
        await asyncio.sleep(0.05)
        model.gate.set()
        return await asyncio.gather(*futures)

    results = run_then_close(b, scenario)
    assert_own_rows(xs, results)
    assert all(r.rows <= 4 for r in b.stats.history)
    assert sum(r.rows for r in b.stats.history) == 14
    assert any(r.requests > 1 for r in b.stats.history)  # 10 = 4 + 4 + (2 | 2 of the next)


def test_a_lone_request_never_waits_for_the_timer() -> None:
    b = make_batcher(GatedModel(), max_wait_s=30.0)  # a wait would be obvious
    try:
        x = chunks(3, 0)
        got = asyncio.run(submit(b, x))
        np.testing.assert_array_equal(got, expected(x))
        (run,) = b.stats.history
        assert run.waited_s == 0.0  # the wait branch was never entered
    finally:
        b.close()


def test_the_batch_waits_only_while_admitted_requests_are_decoding() -> None:
    b = make_batcher(GatedModel(), max_wait_s=30.0)
    a, c = chunks(2, 0), chunks(3, 1)

    async def scenario() -> tuple[np.ndarray, np.ndarray]:
        ticket_a, ticket_c = b.admit(2), b.admit(3)  # both "decoding"
        fut_a = b.run(ticket_a, a)
        await asyncio.sleep(0.1)  # the batcher holds a's rows for c
        fut_c = b.run(ticket_c, c)
        return await fut_a, await fut_c

    async def cancelled() -> np.ndarray:
        ticket_a, ticket_c = b.admit(2), b.admit(3)
        fut_a = b.run(ticket_a, a)
        await asyncio.sleep(0.05)
        ticket_c.cancel()  # c's decoding failed: stop waiting for it at once
        return await fut_a

    try:
        got_a, got_c = asyncio.run(scenario())
        np.testing.assert_array_equal(got_a, expected(a))
        np.testing.assert_array_equal(got_c, expected(c))
        (run,) = b.stats.history
        assert run.requests == 2 and run.rows == 5 and 0.05 < run.waited_s < 30
        t = time.perf_counter()
        np.testing.assert_array_equal(asyncio.run(cancelled()), expected(a))
        assert time.perf_counter() - t < 20  # not the 30 s timer
        assert b.depth == 0
    finally:
        b.close()


def test_full_queue_raises_503_with_retry_after_and_recovers() -> None:
    b = make_batcher(GatedModel(), max_queue=6)
    try:
        ticket = b.admit(5)
        assert b.depth == 5
        with pytest.raises(QueueFullError) as info:
            b.admit(2)
        err = info.value
        assert err.retry_after_s >= 1 and err.extra["retry_after_s"] == err.retry_after_s
        assert status_of(err) == 503 and headers_of(err) == {"Retry-After": str(err.retry_after_s)}
        assert err.extra["max_queue"] == 6 and "busy" in err.detail
        assert b.stats.rejected == 1
        b.admit(1).cancel()  # 5 + 1 still fits
        ticket.cancel()
        assert b.depth == 0
        big = b.admit(100)  # an empty queue takes any single request
        big.cancel()
    finally:
        b.close()


def test_buckets_pad_batches_and_drop_the_padding() -> None:
    model = GatedModel()
    b = make_batcher(model, max_batch=8, bucket=True)
    try:
        for n in (3, 5, 8, 1):
            x = chunks(n, n)
            np.testing.assert_array_equal(asyncio.run(submit(b, x)), expected(x))
    finally:
        b.close()
    assert model.shapes == [4, 8, 8, 1]
    assert [r.rows for r in b.stats.history] == [3, 5, 8, 1]


def test_a_failed_run_fails_its_requests_only() -> None:
    model = GatedModel()
    b = make_batcher(model)
    try:
        model.fail_next = True
        with pytest.raises(RuntimeError, match="exploded"):
            asyncio.run(submit(b, chunks(2, 0)))
        x = chunks(2, 1)
        np.testing.assert_array_equal(asyncio.run(submit(b, x)), expected(x))
        assert b.depth == 0
    finally:
        b.close()


def test_two_idle_workers_split_a_lone_request_and_run_both_halves_at_once() -> None:
    model = GatedModel(hold=True)
    b = make_batcher(model, max_batch=16, workers=2)
    x = chunks(16, 7)

    async def scenario() -> np.ndarray:
        future = asyncio.ensure_future(submit(b, x))
        deadline = time.monotonic() + 10
        while len(model.shapes) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert model.shapes == [8, 8], "both halves must be in flight before either finishes"
        model.gate.set()
        return await future

    got = run_then_close(b, scenario)
    np.testing.assert_array_equal(got, expected(x))  # halves reassembled in the request's order
    assert sorted(r.rows for r in b.stats.history) == [8, 8]


def test_a_busy_worker_leaves_the_whole_batch_to_the_idle_one() -> None:
    class HoldFirst(GatedModel):
        """Only the first run waits at the gate."""

        def __call__(self, x: np.ndarray) -> np.ndarray:
            if self.shapes:
                self.shapes.append(len(x))
                return expected(x)
            return super().__call__(x)

    model = HoldFirst(hold=True)
    b = make_batcher(model, max_batch=8, workers=2)
    first, second = chunks(1, 1), chunks(8, 2)

    async def scenario() -> list[np.ndarray]:
        f1 = asyncio.ensure_future(submit(b, first))
        await asyncio.to_thread(model.started.wait, 10)  # one thread is stuck on `first`
        got2 = await asyncio.wait_for(submit(b, second), 10)  # not behind the stuck run
        assert not f1.done()
        model.gate.set()
        return [await f1, got2]

    got = run_then_close(b, scenario)
    assert model.shapes == [1, 8]  # one idle thread: its share is the whole queue
    assert_own_rows([first, second], got)


def test_many_requests_on_several_workers_never_mix_rows() -> None:
    class Jittery(GatedModel):
        def __call__(self, x: np.ndarray) -> np.ndarray:
            time.sleep(float(np.random.default_rng(len(x)).uniform(0, 0.01)))
            return super().__call__(x)

    model = Jittery()
    b = make_batcher(model, max_batch=6, max_queue=4096, workers=3)
    xs = [chunks(n, seed) for seed, n in enumerate(np.random.default_rng(0).integers(1, 20, 60))]

    async def scenario() -> list[np.ndarray]:
        return await asyncio.gather(*(submit(b, x) for x in xs))

    results = run_then_close(b, scenario)
    assert_own_rows(xs, results)
    assert sum(r.rows for r in b.stats.history) == sum(len(x) for x in xs)
    assert b.depth == 0 and all(r.rows <= 6 for r in b.stats.history)
    assert any(r.requests > 1 for r in b.stats.history)


# -- through the app, with real onnxruntime sessions --------------------------------------------
def wav(seconds: float, seed: int) -> bytes:
    return audio_bytes(tone(seconds, seed=seed) * (0.5 + 0.1 * seed), SAMPLE_RATE, "WAV", "FLOAT")


def post(client: TestClient, data: bytes, query: str = ""):
    return client.post("/predict" + query, files={"file": ("a.wav", data)})


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def probs_of(bodies: list[dict]) -> np.ndarray:
    """Clip and segment probabilities of responses, flattened in a fixed tag order."""
    values = []
    for body in bodies:
        values += [t["probability"] for t in sorted(body["tags"], key=lambda t: t["tag"])]
        for seg in body["segments"]:
            values += [seg["probabilities"][k] for k in sorted(seg["probabilities"])]
    return np.asarray(values)


def slow_runs(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make every onnxruntime run take ``seconds`` longer (so requests pile up behind it)."""
    real = app.registry.LoadedModel.run

    def slow(self, x):
        time.sleep(seconds)
        return real(self, x)

    monkeypatch.setattr(app.registry.LoadedModel, "run", slow)


def test_concurrent_requests_are_batched_and_match_sequential_results(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads = [wav(2.0 + 0.5 * i, seed=i) for i in range(6)]
    settings = Settings(
        models_dir=models_dir,
        providers="cpu",
        max_batch=64,
        intra_op_threads=1,
        inference_threads=1,  # one run at a time: merging across requests is what is tested
        max_queue=512,
    )
    with TestClient(create_app(settings)) as c:
        sequential = []
        for data in uploads:
            r = post(c, data, "?segments=true")
            assert r.status_code == 200, r.text
            sequential.append(r.json())
        slow_runs(monkeypatch, 0.3)
        with ThreadPoolExecutor(len(uploads)) as pool:
            concurrent = list(pool.map(lambda d: post(c, d, "?segments=true"), uploads))
        text = c.get("/prometheus").text
    got = [r.json() for r in concurrent]
    assert all(r.status_code == 200 for r in concurrent), [r.text for r in concurrent]
    # Same chunks, same order, each request's own rows. onnxruntime (MLAS) does not promise
    # bit-identical rows across batch compositions (1 ulp seen for the same row at another
    # offset), so "exactly" is to float32 resolution; the requests differ by far more.
    seq_probs, conc_probs = probs_of(sequential), probs_of(got)
    np.testing.assert_allclose(conc_probs, seq_probs, rtol=0, atol=1e-6)
    for s_body, c_body in zip(sequential, got, strict=True):
        assert [t["tag"] for t in c_body["tags"]] == [t["tag"] for t in s_body["tags"]]
        assert [(x["start_s"], x["end_s"]) for x in c_body["segments"]] == [
            (x["start_s"], x["end_s"]) for x in s_body["segments"]
        ]
    clip_rows = np.array([[t["probability"] for t in sorted(b["tags"], key=lambda t: t["tag"])]
                          for b in sequential])  # fmt: skip
    gaps = np.abs(clip_rows[:, None, :] - clip_rows[None, :, :]).max(axis=2)
    assert gaps[~np.eye(len(gaps), dtype=bool)].min() > 1e-3  # mixing would be visible
    # Each request has 16 + 2..4 segment chunks (<= 20): a run of more rows mixes requests.
    batches = metric(text, "tagger_batch_size_count", model="beta")
    single = metric(text, "tagger_batch_size_bucket", model="beta", le="32.0")
    assert batches - single >= 1, "no run had more than 32 chunks: nothing was batched"
    assert batches < 12  # 6 sequential runs + fewer than 6 for the concurrent ones


def test_queue_full_is_503_with_retry_after_and_the_server_keeps_serving(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # beta has 1.5 s chunks; a 3 s clip gives 16 chunks. Queue of 16: one request waiting fills it.
    settings = Settings(  # one run of the whole request at a time: the queue math is exact
        models_dir=models_dir,
        providers="cpu",
        max_queue=16,
        max_batch=16,
        intra_op_threads=1,
        inference_threads=1,
    )
    gate, started = threading.Event(), threading.Event()
    real = app.registry.LoadedModel.run

    def held(self, x):
        started.set()
        assert gate.wait(30)
        return real(self, x)

    application = create_app(settings)
    data = wav(3.0, seed=1)
    with TestClient(application) as c:
        batcher = application.state.service.tagger.batchers()["beta"]
        monkeypatch.setattr(app.registry.LoadedModel, "run", held)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, c, data)
            assert started.wait(20)  # request 1 is in the (held) run, the queue is empty
            second = pool.submit(post, c, data)
            deadline = time.monotonic() + 20
            while batcher.depth < 16 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert batcher.depth == 16  # request 2 fills the queue
            refused = post(c, data)
            gate.set()
            assert first.result().status_code == 200 and second.result().status_code == 200
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        body = refused.json()
        assert "busy" in body["detail"] and body["max_queue"] == 16
        assert post(c, data).status_code == 200  # still serving
        text = c.get("/prometheus").text
    assert metric(text, "tagger_inference_request_failure_total", reason="queue_full") == 1.0
    assert metric(text, "tagger_inference_request_success_total", model="beta") == 3.0
    assert metric(text, "tagger_requests_total", endpoint="/predict", status="503") == 1.0
    assert metric(text, "tagger_inference_queue_depth", model="beta") == 0.0


def test_decoding_runs_at_most_decode_concurrency_at_once(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()
    real = Tagger.decode

    def tracked(self, data, sample_rate, info=None):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.15)
            return real(self, data, sample_rate, info)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(Tagger, "decode", tracked)
    settings = Settings(models_dir=models_dir, providers="cpu", decode_concurrency=2)
    with TestClient(create_app(settings)) as c, ThreadPoolExecutor(6) as pool:
        codes = [r.status_code for r in pool.map(lambda i: post(c, wav(2.0, i)), range(6))]
        text = c.get("/prometheus").text
    assert codes == [200] * 6
    assert peak == 2
    # Requests waited for a decode slot: 6 uploads, 2 slots, 0.15 s each.
    assert metric(text, "tagger_decode_queue_duration_seconds_sum") > 0.15


def test_runtime_metrics_move(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", intra_op_threads=1)
    with TestClient(create_app(settings)) as c:
        before = c.get("/prometheus").text
        assert post(c, wav(3.0, 0)).status_code == 200
        assert post(c, wav(2.0, 1), "?segments=true").status_code == 200
        after = c.get("/prometheus").text
    for name, labels in [
        ("tagger_batch_size_count", {"model": "beta"}),
        ("tagger_inference_queue_duration_seconds_count", {"model": "beta"}),
        ("tagger_inference_compute_duration_seconds_count", {"model": "beta"}),
        ("tagger_inference_request_success_total", {"model": "beta"}),
        ("tagger_decode_queue_duration_seconds_count", {}),
    ]:
        assert metric(after, name, **labels) > metric(before, name, **labels), name
    assert metric(after, "tagger_batch_size_sum", model="beta") == 16 + 16 + 2
    assert metric(after, "tagger_inference_request_success_total", model="beta") == 2
    assert metric(after, "tagger_inference_queue_depth", model="beta") == 0.0


def test_session_options_are_deliberate(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", intra_op_threads=0)
    registry = app.registry.ModelRegistry(settings)
    cpu = registry.session_options(cuda=False)
    # CPU: one single-threaded run per core; CUDA: one run, all cores for its CPU-side work.
    assert settings.inference_workers(cuda=False) == settings.cores
    assert cpu.intra_op_num_threads == 1 and cpu.inter_op_num_threads == 1
    assert settings.inference_workers(cuda=True) == 1
    assert registry.session_options(cuda=True).intra_op_num_threads == settings.cores
    two = Settings(models_dir=models_dir, inference_threads=2, intra_op_threads=0)
    assert two.intra_op(cuda=False) == max(1, two.cores // 2) and two.inference_workers(True) == 2
    assert Settings(intra_op_threads=3).intra_op(cuda=False) == 3
    assert settings.batch_limit(cuda=False) == 1 and settings.batch_limit(cuda=True) == 16
    assert Settings(max_batch=7).batch_limit(cuda=True) == 7
    model = registry.get("beta")
    assert model.workers == settings.cores and model.max_batch == 1
    assert cpu.execution_mode == app.registry.ort.ExecutionMode.ORT_SEQUENTIAL
    assert cpu.graph_optimization_level == app.registry.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The CPU arena reuses activation buffers (no mmap + page zeroing per run); no patterns.
    assert cpu.enable_cpu_mem_arena and not cpu.enable_mem_pattern
    lean = app.registry.ModelRegistry(Settings(models_dir=models_dir, ort_cpu_arena=False))
    assert not lean.session_options(cuda=False).enable_cpu_mem_arena
    assert registry.session_options(cuda=True).enable_mem_pattern
    assert registry.buckets("CUDAExecutionProvider") and not registry.buckets(
        "CPUExecutionProvider"
    )
    assert registry.cuda_options()["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    off = app.registry.ModelRegistry(Settings(models_dir=models_dir, batch_buckets="off"))
    assert off.cuda_options()["cudnn_conv_algo_search"] == "HEURISTIC"


def test_bucketed_model_warms_every_bucket_and_gives_the_same_answers(models_dir: Path) -> None:
    data = wav(2.5, 3)
    answers = {}
    for buckets in ("off", "on"):
        settings = Settings(  # one run at a time, as on CUDA (where buckets are used)
            models_dir=models_dir,
            providers="cpu",
            batch_buckets=buckets,
            max_batch=8,
            inference_threads=1,
        )
        application = create_app(settings)
        with TestClient(application) as c:
            answers[buckets] = post(c, data, "?segments=true").json()
            batcher = application.state.service.tagger.batchers()["beta"]
            shapes = {r.padded_to for r in batcher.stats.history}
            assert application.state.service.registry.get("beta").bucket is (buckets == "on")
        if buckets == "on":
            assert shapes <= {1, 2, 4, 8}
    assert answers["on"]["tags"] == answers["off"]["tags"]
    assert answers["on"]["segments"] == answers["off"]["segments"]


def test_metrics_object_is_a_batch_observer() -> None:
    m = ServiceMetrics()
    m.batch("x", "CPUExecutionProvider", 5, 0.01)
    m.queued("x", 0.002)
    m.rejected("x")
    text = m.exposition().decode()
    assert metric(text, "tagger_batch_size_sum", model="x") == 5
    assert metric(text, "tagger_inference_request_failure_total", reason="queue_full") == 1


def test_gil_switch_interval_is_set_at_start_up(models_dir: Path) -> None:
    original = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        settings = Settings(models_dir=models_dir, providers="cpu", switch_interval_ms=2.0)
        with TestClient(create_app(settings)):
            assert sys.getswitchinterval() == pytest.approx(0.002)
        sys.setswitchinterval(0.005)
        with TestClient(create_app(Settings(models_dir=models_dir, switch_interval_ms=0))):
            assert sys.getswitchinterval() == pytest.approx(0.005)  # 0 = left alone
    finally:
        sys.setswitchinterval(original)
