"""FastAPI application factory; ``app.main:app`` is the ASGI app (``uvicorn app.main:app``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from app.auth import ApiKeyMiddleware, document_security
from app.config import Settings
from app.errors import ServiceError
from app.http_errors import install_error_handlers
from app.limits import BodyGuardMiddleware
from app.lingering import LingeringCloseMiddleware
from app.memory import pin_mmap_threshold
from app.observability import PrometheusMiddleware, ServiceMetrics
from app.registry import ModelRegistry, ProviderUnavailableError
from app.routers import health, library, limits, metrics, models, predict, web
from app.state import ServiceState
from app.tagger import Tagger

if TYPE_CHECKING:
    from app.library.search import Library

log = logging.getLogger("app")

DESCRIPTION = """Music auto-tagging with models trained on MagnaTagATune, served with onnxruntime.

Upload an audio file to `POST /predict`; `GET /models` compares the models' test scores;
`GET /metrics` returns their stored evaluations; `GET /limits` states the upload limits;
runtime counters for Prometheus are at `GET /prometheus`. Errors are JSON `{"detail": "..."}`.

When the service is started with API keys (`TAGGER_API_KEYS`), every operation except the
health probes and these docs needs `Authorization: Bearer <key>` (401 otherwise). Limits,
timeouts and what to put in front of the service: docs/SECURITY.md.
"""


def _configure_logging(level: str) -> None:
    log.setLevel(level)
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)


def mount_library(settings: Settings, registry: ModelRegistry) -> Library:
    """Open ``TAGGER_LIBRARY`` read-only; refuse to start (RuntimeError) when the folder is not
    a library or its model is not in the models directory (uploads could not be embedded)."""
    from app.library.search import Library, QueryOptions  # the library extra (LanceDB)

    assert settings.library is not None
    try:
        mounted = Library(settings.library, QueryOptions.of(settings))
        registry.check_name(mounted.manifest.model)
    except ServiceError as exc:
        log.error("refusing to start: TAGGER_LIBRARY: %s", exc.detail)
        raise RuntimeError(f"refusing to start: TAGGER_LIBRARY: {exc.detail}") from exc
    m = mounted.manifest
    log.info(
        "library %s: %d tracks, model %s %s",
        settings.library,
        mounted.count(),
        m.model,
        m.model_version,
    )
    return mounted


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an app instance; settings default to the environment (``TAGGER_*``)."""
    settings = settings if settings is not None else Settings()
    _configure_logging(settings.log_level)
    service_metrics = ServiceMetrics()
    registry = ModelRegistry(settings)
    state = ServiceState(
        settings=settings,
        registry=registry,
        tagger=Tagger(settings, registry, service_metrics),
        metrics=service_metrics,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("starting: models_dir=%s providers=%s", registry.models_dir, settings.providers)
        if settings.switch_interval_ms:
            # Interpreter-wide on purpose: this process exists to serve this app.
            sys.setswitchinterval(settings.switch_interval_ms / 1000)
        pin_mmap_threshold(settings.malloc_mmap_threshold_kb * 1024)  # process-wide too
        try:
            name = registry.choose_default()
            model = await anyio.to_thread.run_sync(registry.get, name)
        except ProviderUnavailableError as exc:
            log.error("refusing to start: %s", exc)
            raise RuntimeError(f"refusing to start: {exc}") from exc
        except ServiceError as exc:
            log.error("refusing to start: %s", exc.detail)
            raise RuntimeError(f"refusing to start: {exc.detail}") from exc
        service_metrics.observe_loaded(model)
        if settings.library is not None:
            state.library = await anyio.to_thread.run_sync(mount_library, settings, registry)
        # Every other model is checked once (an ONNX file that does not load is listed under
        # "invalid" in /models and never offered), without keeping it loaded.
        await anyio.to_thread.run_sync(registry.validate_all)
        state.tagger.start()
        state.tagger.batcher(model)  # the default model's inference threads start now
        state.default_model = name
        state.ready = True
        log.info("ready: default model %s on %s", name, model.provider)
        try:
            yield
        finally:
            state.ready = False
            await anyio.to_thread.run_sync(state.tagger.close)

    app = FastAPI(
        title="MTAT music tagger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served offline by app.routers.web
        redoc_url=None,
    )
    app.state.service = state
    install_error_handlers(app)
    # Added last = outermost. Requests pass the lingering close, Prometheus (sees every
    # response), CORS (answers preflights, adds its headers to 401s too), API keys, then the
    # body guard (413/408/503), then gzip (innermost: it only rewrites response bodies of at
    # least 1 KiB, so uploads, refusals and 503s pass it unchanged).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(
        BodyGuardMiddleware,
        max_bytes=settings.max_upload_bytes,
        body_timeout_s=settings.body_timeout_s,
        request_timeout_s=settings.request_timeout_s,
    )
    keys = settings.api_key_list()
    if keys:
        app.add_middleware(ApiKeyMiddleware, keys=keys)
        document_security(app)
        log.info("API keys required (%d configured) on every non-public path", len(keys))
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    app.add_middleware(PrometheusMiddleware, metrics=service_metrics)
    # Outermost: an answer sent before the body was read ends only after the rest of the body
    # was read and dropped (bounded), so the client reads it instead of a connection reset.
    app.add_middleware(
        LingeringCloseMiddleware,
        drain_bytes=settings.refused_drain_bytes,
        drain_s=settings.refused_drain_s,
        stall_s=settings.body_timeout_s,
    )
    routers = (predict.router, models.router, metrics.router, health.router, limits.router)
    for router in (*routers, library.router):
        app.include_router(router)
    web.install(app)
    return app


app = create_app()
