"""Prometheus runtime metrics (``GET /prometheus``), one registry per app instance.

Names follow the Triton/TorchServe style (``<service>_<what>_<unit>``):

* ``tagger_requests_total{method, endpoint, status}``: requests by route template and status.
* ``tagger_request_duration_seconds{method, endpoint}``: end-to-end latency histogram.
* ``tagger_decode_duration_seconds``: decode + resample time per prediction.
* ``tagger_inference_duration_seconds{model, provider}``: onnxruntime time per prediction.
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

if TYPE_CHECKING:
    from app.registry import LoadedModel

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics:
    """The service's collectors, in a private registry (no process-global state)."""

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
        self.inference_duration = Histogram(
            "tagger_inference_duration_seconds",
            "onnxruntime time per prediction (all its chunks).",
            ["model", "provider"],
            buckets=LATENCY_BUCKETS,
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
    ) -> None:
        self.decode_duration.observe(decode_s)
        self.inference_duration.labels(model.name, model.provider).observe(inference_s)
        self.chunks.labels(model.name).inc(n_chunks)
        self.audio_duration.observe(audio_s)

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
