"""Prometheus runtime metrics (``GET /prometheus``), one registry per app instance.

Names follow the Triton/TorchServe style (``<service>_<what>_<unit>``):

* ``tagger_requests_total{method, endpoint, status}``: requests by route template and status.
* ``tagger_request_duration_seconds{method, endpoint}``: end-to-end latency histogram.
* ``tagger_decode_duration_seconds``: decode + resample time per prediction.
* ``tagger_decode_queue_duration_seconds``: wait for a decode slot (bounded decode concurrency).
* ``tagger_inference_duration_seconds{model, provider}``: per prediction, chunks handed to the
  batcher -> all probabilities back (queue wait + the runs its chunks took part in).
* ``tagger_inference_queue_duration_seconds{model}``: per prediction, submit -> its first run
  starts (Triton ``nv_inference_queue_duration_us``, TorchServe ``ts_queue_latency_microseconds``).
* ``tagger_inference_compute_duration_seconds{model, provider}``: per onnxruntime run (batch).
* ``tagger_batch_size{model}``: chunks per onnxruntime run (histogram; > 1 request = batching).
* ``tagger_inference_queue_depth{model}``: chunks in the queue (reserved + waiting), a gauge.
* ``tagger_inference_request_success_total{model}`` / ``tagger_inference_request_failure_total
  {model, reason}``: predictions answered / refused (``queue_full``) or failed (``error``).
* ``tagger_inference_chunks_total{model}``: chunks sent through the models.
* ``tagger_audio_duration_seconds``: durations of the tagged audio.
* ``tagger_model_loaded{model, provider}``: 1 for each loaded model (gauge).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.batching import BatchObserver

if TYPE_CHECKING:
    from app.registry import LoadedModel

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FAST_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
FAST_BUCKETS += (2.5, 5.0, 10.0, 30.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics(BatchObserver):
    """The service's collectors, in a private registry (no process-global state); also the
    batchers' observer (called from their threads: prometheus_client is thread-safe)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "tagger_requests", "HTTP requests.", ["method", "endpoint", "status"], registry=r
        )
        self.request_duration = Histogram(
            "tagger_request_duration_seconds",
            "HTTP request latency, first byte received to last byte sent.",
            ["method", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decode_duration = Histogram(
            "tagger_decode_duration_seconds",
            "Decode + mono + resample time per prediction.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decode_queue_duration = Histogram(
            "tagger_decode_queue_duration_seconds",
            "Wait for a decode slot per prediction (decoding runs at most TAGGER_DECODE_"
            "CONCURRENCY uploads at once).",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "tagger_inference_duration_seconds",
            "Per prediction: chunks handed to the batcher until all probabilities are back "
            "(queue wait + onnxruntime runs).",
            ["model", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_duration = Histogram(
            "tagger_inference_queue_duration_seconds",
            "Per prediction: chunks submitted until the first onnxruntime run with them starts.",
            ["model"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.compute_duration = Histogram(
            "tagger_inference_compute_duration_seconds",
            "onnxruntime session.run time per batch.",
            ["model", "provider"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "tagger_batch_size",
            "Chunks per onnxruntime run (several requests' chunks share a run).",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth_gauge = Gauge(
            "tagger_inference_queue_depth",
            "Chunks in the model's inference queue (reserved by requests decoding + waiting).",
            ["model"],
            registry=r,
        )
        self.request_success = Counter(
            "tagger_inference_request_success",
            "Predictions answered.",
            ["model"],
            registry=r,
        )
        self.request_failure = Counter(
            "tagger_inference_request_failure",
            "Predictions refused (reason=queue_full: 503) or failed in inference (error).",
            ["model", "reason"],
            registry=r,
        )
        self.chunks = Counter(
            "tagger_inference_chunks", "Chunks run through the models.", ["model"], registry=r
        )
        self.audio_duration = Histogram(
            "tagger_audio_duration_seconds",
            "Duration of the tagged audio.",
            buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.model_loaded = Gauge(
            "tagger_model_loaded", "1 per loaded model.", ["model", "provider"], registry=r
        )

    def observe_tagging(
        self,
        model: LoadedModel,
        decode_s: float,
        inference_s: float,
        n_chunks: int,
        audio_s: float,
        decode_queue_s: float = 0.0,
    ) -> None:
        self.decode_queue_duration.observe(decode_queue_s)
        self.decode_duration.observe(decode_s)
        self.inference_duration.labels(model.name, model.provider).observe(inference_s)
        self.chunks.labels(model.name).inc(n_chunks)
        self.audio_duration.observe(audio_s)
        self.request_success.labels(model.name).inc()

    # -- BatchObserver (called from the batcher threads) ------------------------------------
    def queue_depth(self, model: str, chunks: int) -> None:
        self.queue_depth_gauge.labels(model).set(chunks)

    def queued(self, model: str, seconds: float) -> None:
        self.queue_duration.labels(model).observe(seconds)

    def batch(self, model: str, provider: str, rows: int, run_s: float) -> None:
        self.batch_size.labels(model).observe(rows)
        self.compute_duration.labels(model, provider).observe(run_s)

    def rejected(self, model: str) -> None:
        self.request_failure.labels(model, "queue_full").inc()

    def observe_loaded(self, model: LoadedModel) -> None:
        self.model_loaded.labels(model.name, model.provider).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class PrometheusMiddleware:
    """Pure ASGI middleware counting every HTTP response by route template and status.

    The endpoint label is the matched route's path template (``/models/{name}``), or
    ``unmatched``, so arbitrary URLs cannot blow up label cardinality.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, endpoint, str(status)).inc()
            self.metrics.request_duration.labels(method, endpoint).observe(
                time.perf_counter() - start
            )
