"""What a run's figures depend on besides its config and data: versions, CPU, thread count.

A seeded CPU run repeats bit for bit only where all of these match: the package versions (torch
brings its own oneDNN/MKL kernels; numpy, libsndfile, FFmpeg and soxr make the audio bytes), the
instruction set torch dispatches to (``torch.backends.cpu.get_cpu_capability()``: AVX2, AVX512
...) and torch's intra-op thread count (CPU kernels split their float sums by thread). ``train``
writes :func:`environment` as ``environment.json`` beside ``log.csv``;
``scripts/compare_demo.py`` diffs two of them.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "numpy", "scipy", "soundfile", "soxr", "av", "scikit-learn", "torchaudio")
"""Distributions whose versions can change the synthetic audio, the cache or the weights."""

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_CBWR",
)
"""Environment variables that change torch's CPU kernels or their thread count (when set)."""


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def audio_libraries() -> dict[str, str | None]:
    """Versions of the native audio libraries bundled in the soundfile and PyAV wheels."""
    libs: dict[str, str | None] = {"libsndfile": None, "ffmpeg": None}
    try:
        import soundfile

        libs["libsndfile"] = soundfile.__libsndfile_version__
    except (ImportError, OSError):
        pass
    try:
        import av

        libs["ffmpeg"] = str(av.ffmpeg_version_info)
    except ImportError:
        pass
    return libs


def environment() -> dict[str, Any]:
    """The versions, CPU and torch thread settings of this process (JSON-ready)."""
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "packages": package_versions(),
        "audio_libraries": audio_libraries(),
        "variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
    }


IDENTITY_KEYS = ("machine", "torch_cpu_capability", "torch_threads", "packages", "audio_libraries")
"""The parts of :func:`environment` that must match for a seeded run to repeat bit for bit."""
