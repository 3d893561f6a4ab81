"""Fixtures of the benchmark tests: a folder of small real ONNX models with cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.support import make_models_dir


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny feature models with cards (see :func:`tests.app.support.make_models_dir`)."""
    return make_models_dir(tmp_path_factory.mktemp("models"))
