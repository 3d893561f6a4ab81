"""Fixtures shared by the service tests: a folder of small real ONNX models, the anyio backend, a
live server and a real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.flood import served
from tests.app.support import make_models_dir, server_env
from tests.paths import REPO


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny feature models with cards (see :func:`tests.app.support.make_models_dir`)."""
    return make_models_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The real server on 127.0.0.1 with the three test models, a 1 MiB upload limit and one
    intra-op thread: ``(base URL, log file)``."""
    models = make_models_dir(tmp_path_factory.mktemp("served"))
    env = server_env(models, TAGGER_MAX_UPLOAD_MB="1")
    with served(env, ready_s=60) as (url, _pid, log):
        yield url, log


@pytest.fixture(scope="module")
def real_models_server() -> Iterator[str]:
    """The real server with the project's models (models/: the default, won_musicnn, carries
    calibrated thresholds; four real-MTAT and eight synthetic models), on CPU."""
    env = server_env(REPO / "models", TAGGER_PROVIDERS="cpu")
    with served(env, ready_s=180) as (url, _pid, _log):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright (tests/app/browser.py), one per test module."""
    from tests.app.browser import chromium

    with chromium() as b:
        yield b
