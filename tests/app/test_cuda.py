"""The CUDA path on a CPU-only machine: node placement from real onnxruntime profiles, the
preload report, the driver note, TF32 off, and the warm-up guard (a failing run injected into
a real session)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import app.registry
from app.config import Settings
from app.cuda import (
    cpu_nodes_of_concern,
    driver_note,
    driver_version,
    placement_from_profile,
    preload_failures,
    preload_report,
)
from app.errors import ModelLoadError
from app.registry import CPU, CUDA, ModelRegistry, ProviderUnavailableError

PRELOAD_SAMPLE = """\
Failed to load /venv/lib/python3.11/site-packages/nvidia/cudnn/lib/libcudnn.so.9: \
libcudnn_graph.so.9: cannot open shared object file: No such file or directory
Failed to load libcublasLt.so.13: libcublasLt.so.13: cannot open shared object file: No such file
Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA.
"""


def profiled_session(model: Path, prefix: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(prefix)
    return ort.InferenceSession(str(model), options, providers=[CPU])


def test_placement_of_a_real_profiled_cpu_session(models_dir: Path, tmp_path: Path) -> None:
    session = profiled_session(models_dir / "beta" / "model.onnx", tmp_path / "prof")
    (waveform,) = session.get_inputs()
    for batch in (1, 2, 4):  # several shapes, as in warm-up: each node counts once
        session.run(None, {waveform.name: np.zeros((batch, 24_000), np.float32)})
    placement = placement_from_profile(Path(session.end_profiling()))
    assert list(placement.by_provider) == [CPU]
    n = placement.by_provider[CPU]
    assert n >= 2 and sum(placement.cpu_by_op.values()) == n
    once = profiled_session(models_dir / "beta" / "model.onnx", tmp_path / "once")
    once.run(None, {waveform.name: np.zeros((1, 24_000), np.float32)})
    assert placement_from_profile(Path(once.end_profiling())).by_provider == {CPU: n}


def test_cpu_nodes_of_concern_ignores_shape_arithmetic() -> None:
    cpu_by_op = {"Shape": 3, "Gather": 2, "Unsqueeze": 4, "Concat": 1, "Reshape": 2}
    assert cpu_nodes_of_concern(cpu_by_op) == {}
    assert cpu_nodes_of_concern({**cpu_by_op, "Conv": 2, "GRU": 1}) == {"Conv": 2, "GRU": 1}


def test_preload_failures_are_read_from_the_printed_text() -> None:
    failures = preload_failures(PRELOAD_SAMPLE)
    assert len(failures) == 2
    assert failures[0].startswith("/venv/lib/python3.11/site-packages/nvidia/cudnn/lib/")
    assert "libcudnn_graph.so.9: cannot open" in failures[0]
    assert failures[1].startswith("libcublasLt.so.13: ")
    assert preload_failures("libcudart.so.13 loaded\n") == []


def test_preload_report_captures_both_file_descriptors() -> None:
    def noisy_preload() -> None:
        print("Failed to load libcudnn.so.9: not found")  # Python's stdout
        os.write(2, b"Failed to load libcufft.so.12: not found\n")  # native stderr

    output, failures = preload_report(noisy_preload)
    assert "libcudnn.so.9" in output and "libcufft.so.12" in output
    assert failures == ["libcudnn.so.9: not found", "libcufft.so.12: not found"]
    print("after the capture", file=sys.stdout)  # the descriptors are restored

    def raising() -> None:
        raise RuntimeError("Invalid parameter of directory")

    assert preload_report(raising)[1] == [
        "preload_dlls raised RuntimeError: Invalid parameter of directory"
    ]


def test_driver_version_and_note(tmp_path: Path) -> None:
    proc = tmp_path / "version"
    proc.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  575.57.08  Sat May 24 2025\n"
        "GCC version:  gcc version 12.2.0\n"
    )
    assert driver_version(proc) == "575.57.08"
    assert "575.57.08 found (too old)" in driver_note("575.57.08")
    assert "(new enough)" in driver_note("580.65.06")
    assert "no NVIDIA driver found" in driver_note(None)
    assert ">= 580" in driver_note(None)


def test_tf32_is_off_unless_asked(tmp_path: Path) -> None:
    assert ModelRegistry(Settings(models_dir=tmp_path)).cuda_options()["use_tf32"] == "0"
    tf32 = ModelRegistry(Settings(models_dir=tmp_path, cuda_tf32=True)).cuda_options()
    assert tf32["use_tf32"] == "1"


def test_conv1d_layout_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        ModelRegistry(Settings(models_dir=tmp_path)).cuda_options()["cudnn_conv1d_pad_to_nc1d"]
        == "0"
    )
    monkeypatch.setenv("TAGGER_CUDA_CONV1D_PAD_TO_NC1D", "true")
    assert (
        ModelRegistry(Settings(models_dir=tmp_path)).cuda_options()["cudnn_conv1d_pad_to_nc1d"]
        == "1"
    )


def test_preload_failure_falls_back_or_refuses(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host with a driver whose CUDA libraries are missing: preload_dlls prints failures."""
    monkeypatch.setattr(app.registry, "cuda_driver_problem", lambda: None)
    monkeypatch.setattr(
        app.registry.ort, "preload_dlls", lambda: print(PRELOAD_SAMPLE), raising=False
    )
    auto = ModelRegistry(Settings(models_dir=models_dir, providers="auto"))
    model = auto.get("beta")
    assert model.provider == CPU and model.fallback
    assert (
        "failed to load" in model.fallback_reason and "libcublasLt.so.13" in model.fallback_reason
    )
    strict = ModelRegistry(Settings(models_dir=models_dir, providers="cuda"))
    with pytest.raises(ProviderUnavailableError, match="libcudnn.so.9.*NVIDIA driver"):
        strict.get("beta")


class CudaLike:
    """Makes ``create_session`` return a real CPU session labelled as CUDA whose runs fail
    with a CUDA error, as a warm-up on a broken GPU does; counts the calls."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry, self.calls = registry, 0

    def __call__(self, path: Path, disabled=None, profile_dir=None):
        self.calls += 1
        session = self.registry._session(path, [CPU], list(disabled or []))

        def failing_run(*args, **kwargs):
            raise RuntimeError("CUDA failure 700: an illegal memory access was encountered")

        session.run = failing_run
        return session, CUDA, None


def test_warm_up_error_under_auto_rebuilds_on_cpu(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ModelRegistry(Settings(models_dir=models_dir, providers="auto"))
    fake = CudaLike(registry)
    monkeypatch.setattr(registry, "create_session", fake)
    with caplog.at_level(logging.ERROR, logger="app"):
        model = registry.get("beta")
    assert model.provider == CPU and model.fallback is True
    assert "warm-up on CUDAExecutionProvider failed" in model.fallback_reason
    assert "illegal memory access" in model.fallback_reason
    assert model.run(np.zeros((2, 24_000), np.float32)).shape == (2, model.n_outputs)
    assert registry.get("beta") is model and fake.calls == 1  # loaded once, not per request
    assert any("illegal memory access" in r.getMessage() for r in caplog.records)


def test_warm_up_error_under_cuda_marks_the_model_invalid(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ModelRegistry(Settings(models_dir=models_dir, providers="cuda"))
    fake = CudaLike(registry)
    monkeypatch.setattr(registry, "create_session", fake)
    with pytest.raises(ModelLoadError, match="warm-up on CUDAExecutionProvider failed"):
        registry.get("beta")
    reason = registry.invalid_reason("beta")
    assert reason is not None and "illegal memory access" in reason
    with pytest.raises(ModelLoadError, match="illegal memory access"):
        registry.get("beta")
    assert fake.calls == 1  # the invalid model is not re-loaded on the next request
    _, invalid = registry.cards()
    assert "beta" in invalid
