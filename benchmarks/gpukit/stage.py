"""What the kit holds: the service's Python packages for the device machine's Python, less what
its image already has, and the graphs the GPU check compares.

The device image (the ``device`` tool's KINDS.md) is Python 3.12 with numpy, the CUDA 13 / cuDNN
9 ``nvidia-*`` wheels, httpx, psutil and CPU ``onnxruntime`` 1.30, but no onnxruntime-gpu, FastAPI,
pydantic or PyAV, and it cannot reach a package index. The kit is the dependency closure of the
package's core and ``serve`` requirements, pinned by ``constraints.txt``, installed with pip for
that Python, less:

- numpy and the ``nvidia-*`` CUDA libraries (in the image; onnxruntime's ``preload_dlls`` finds
  them there; they are 2.1 GB), and uvloop and PyYAML (in the image; uvicorn's optional event
  loop and log-config reader, 3.8 MiB of the kit: without them it uses asyncio);
- onnxruntime's C-API library ``libonnxruntime.so`` (nothing in the Python package loads it) and
  its TensorRT provider;
- the CUDA provider's code for GPUs other than the target's compute capability
  (:func:`benchmarks.gpukit.fatbin.keep_arch`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from benchmarks.gpukit.fatbin import Kept, keep_arch_file

# manylinux tags pip may pick for the device's x86-64 glibc 2.35+ image
PLATFORMS = (
    "manylinux_2_35_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
IN_IMAGE = re.compile(r"^(numpy|nvidia([-_].*)?|uvloop|pyyaml|_?yaml)$", re.IGNORECASE)
ORT_UNUSED = ("libonnxruntime.so*", "libonnxruntime_providers_tensorrt.so")
CUDA_PROVIDER = Path("onnxruntime") / "capi" / "libonnxruntime_providers_cuda.so"
DIRECT_FORMS_COMMIT = "88912f7"  # the musicnn ports before their timbral filters became a DFT
DIRECT_FORMS = ("won_musicnn", "pons_musicnn")


def requirements(pyproject: Path) -> list[str]:
    """The core and ``serve`` requirements, with onnxruntime-gpu's CUDA/cuDNN extras left out."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["serve"]]
    return [re.sub(r"^(onnxruntime-gpu)\[[^\]]*\]", r"\1", req) for req in reqs]


def pip_install(reqs: list[str], target: Path, constraints: Path, python: str) -> None:
    """``pip install --target`` of ``reqs`` and their dependencies, binary wheels for CPython
    ``python`` (e.g. "3.12") on x86-64 Linux."""
    tag = "cp" + python.replace(".", "")
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
    cmd += ["--python-version", python, "--implementation", "cp", "--abi", tag, "--abi", "abi3"]
    cmd += ["--abi", "none", "--only-binary=:all:", *platforms, "-c", str(constraints), *reqs]
    subprocess.run(cmd, check=True)


def prune(site: Path) -> list[str]:
    """Remove what the device image has or the service never loads; the names removed."""
    removed = []
    for path in sorted(site.iterdir()):
        name = path.name.split("-")[0] if path.name.endswith(".dist-info") else path.name
        if IN_IMAGE.match(name.removesuffix(".libs")) or path.name in ("bin", "__pycache__"):
            _remove(path)
            removed.append(path.name)
    for pattern in ORT_UNUSED:
        for path in (site / CUDA_PROVIDER.parent).glob(pattern):
            _remove(path)
            removed.append(str(path.relative_to(site)))
    for path in site.rglob("__pycache__"):
        _remove(path)
    return removed


def strip_cuda(site: Path, arch: int) -> Kept:
    """Keep only ``arch``'s code in the CUDA provider (see :mod:`benchmarks.gpukit.fatbin`)."""
    return keep_arch_file(site / CUDA_PROVIDER, arch)


def direct_forms(repo: Path, dest: Path) -> list[str]:
    """The musicnn ports' graphs of :data:`DIRECT_FORMS_COMMIT`, as ``scripts/gpu_check.sh``
    reads them on a machine without the history (``gpu_forms/<model>_direct.onnx``)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for model in DIRECT_FORMS:
        spec = f"{DIRECT_FORMS_COMMIT}:models/{model}/model.onnx"
        graph = subprocess.run(["git", "-C", str(repo), "show", spec], capture_output=True)
        if graph.returncode != 0:
            raise RuntimeError(f"git show {spec}: {graph.stderr.decode().strip()}")
        (dest / f"{model}_direct.onnx").write_bytes(graph.stdout)
        written.append(f"{model}_direct.onnx")
    return written


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
