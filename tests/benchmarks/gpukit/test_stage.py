"""What goes into the kit: the requirements, what is pruned, the direct musicnn graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from benchmarks.gpukit import stage
from tests.benchmarks.gpukit.test_fatbin import ELF, elf, fatbin, payload
from tests.paths import REPO


def test_requirements_are_the_core_and_serve_ones_without_the_cuda_wheels() -> None:
    reqs = stage.requirements(REPO / "pyproject.toml")
    assert "onnxruntime-gpu==1.31.*" in reqs  # the nvidia-* extras are in the device image
    assert not any("[cuda" in r for r in reqs)
    for name in ("av", "soundfile", "soxr", "pydantic", "fastapi", "uvicorn", "python-multipart"):
        assert any(r.startswith(name) for r in reqs), name
    assert not any(r.startswith(("torch", "ray", "lancedb", "pytest")) for r in reqs)


FROM_IMAGE = (  # what the device image has (with nvidia/), and bin/
    "numpy",
    "numpy.libs",
    "numpy-2.4.6.dist-info",
    "uvloop",
    "uvloop-0.23.0.dist-info",
    "yaml",
    "_yaml",
    "pyyaml-6.0.4.dist-info",
    "bin",
)


def make_site(root: Path) -> Path:
    site = root / "site"
    for folder in (
        *FROM_IMAGE,
        "nvidia/cudnn",
        "fastapi",
        "fastapi-0.165.0.dist-info",
        "pkg/__pycache__",
    ):
        (site / folder).mkdir(parents=True)
    capi = site / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    for name in (
        "libonnxruntime.so.1.31.1",
        "libonnxruntime_providers_tensorrt.so",
        "libonnxruntime_providers_shared.so",
        "onnxruntime_pybind11_state.cpython-312-x86_64-linux-gnu.so",
    ):
        (capi / name).write_bytes(b"x")
    (site / "pkg" / "__pycache__" / "m.cpython-312.pyc").write_bytes(b"x")
    mixed = fatbin((ELF, 80, payload(1)), (ELF, 90, payload(2)))
    (capi / "libonnxruntime_providers_cuda.so").write_bytes(elf({".nv_fatbin": mixed}))
    return site


def test_prune_removes_what_the_image_has_or_nothing_loads(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    removed = stage.prune(site)
    assert set(removed) == {
        *FROM_IMAGE,
        "nvidia",
        "onnxruntime/capi/libonnxruntime.so.1.31.1",
        "onnxruntime/capi/libonnxruntime_providers_tensorrt.so",
    }
    left = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    assert left == {
        "onnxruntime/capi/libonnxruntime_providers_shared.so",
        "onnxruntime/capi/onnxruntime_pybind11_state.cpython-312-x86_64-linux-gnu.so",
        "onnxruntime/capi/libonnxruntime_providers_cuda.so",
    }
    assert (site / "fastapi").is_dir() and (site / "fastapi-0.165.0.dist-info").is_dir()
    assert not (site / "pkg" / "__pycache__").exists()


def test_strip_cuda_rewrites_the_provider_in_place(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    provider = site / stage.CUDA_PROVIDER
    size = provider.stat().st_size
    kept = stage.strip_cuda(site, 90)
    assert (kept.zeroed_images, kept.zeroed_bytes) == (1, 40)
    assert provider.stat().st_size == size and payload(1) not in provider.read_bytes()
    assert payload(2) in provider.read_bytes()


def test_direct_forms_are_the_musicnn_graphs_before_the_dft(tmp_path: Path) -> None:
    """The graphs gpu_check.sh compares with the served DFT form: same inputs and outputs,
    direct timbral convolutions (no ``/vertical/`` nodes), the same answers."""
    written = stage.direct_forms(REPO, tmp_path)
    assert written == [f"{m}_direct.onnx" for m in stage.DIRECT_FORMS]
    rng = np.random.default_rng(0)
    for model in stage.DIRECT_FORMS:
        direct = onnx.load(tmp_path / f"{model}_direct.onnx")
        served = onnx.load(REPO / "models" / model / "model.onnx")
        assert not any("/vertical/" in n.name for n in direct.graph.node)
        assert any("/vertical/" in n.name for n in served.graph.node)
        sessions = [
            ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            for path in (tmp_path / f"{model}_direct.onnx", REPO / "models" / model / "model.onnx")
        ]
        assert [i.name for i in sessions[0].get_inputs()] == [
            i.name for i in sessions[1].get_inputs()
        ]
        shape = [d if isinstance(d, int) else 1 for d in sessions[0].get_inputs()[0].shape]
        wave = {"waveform": rng.standard_normal(shape).astype(np.float32) * 0.1}
        a, b = (s.run(["probabilities"], wave)[0] for s in sessions)
        np.testing.assert_allclose(a, b, atol=1e-5)
