"""The device side of the kit, standard library only: the machine's facts, the ``nvidia`` link
onnxruntime needs beside it, and whether the kit fits this machine."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

CUDA = "CUDAExecutionProvider"


def link_nvidia(site: Path) -> Path | None:
    """Link ``site/nvidia`` to the first ``nvidia`` package found outside ``site`` (the device
    image's CUDA/cuDNN wheels); the folder linked, or None when there is none."""
    link = site / "nvidia"
    try:
        import nvidia  # a namespace package: the nvidia-* wheels' common folder
    except ImportError:
        return None
    for folder in map(Path, nvidia.__path__):
        if folder.absolute().is_relative_to(site.absolute()):
            continue  # the link itself, when the kit is already on the path
        if link.is_symlink():
            link.unlink()
        link.symlink_to(folder)
        return folder
    return None


def check(site: Path, kit_arch: int | None) -> dict:
    """``{"onnxruntime": ..., "compute_capability": ..., "problems": [...]}``: onnxruntime is
    the kit's (under ``site``) and lists the CUDA provider, and there is a GPU, the one the kit
    keeps code for (``kit_arch``; None: a kit with every architecture)."""
    report: dict = {}
    problems: list[str] = []
    try:
        import onnxruntime as ort

        report["onnxruntime"] = f"{ort.__version__} at {ort.__file__}"
        if not Path(ort.__file__).resolve().is_relative_to(site.resolve()):
            problems.append(f"onnxruntime is not the kit's: {ort.__file__}")
        if CUDA not in ort.get_available_providers():
            problems.append(f"onnxruntime lists no {CUDA}")
    except ImportError as exc:
        problems.append(f"onnxruntime does not import: {exc}")
    arch = compute_capability()
    report["compute_capability"] = arch
    if arch is None:
        problems.append("no GPU found (nvidia-smi --query-gpu=compute_cap)")
    elif kit_arch is not None and arch != kit_arch:
        problems.append(
            f"the GPU's compute capability is {arch / 10:.1f}; the kit keeps sm_{kit_arch}'s"
            f" code only: rebuild it with --arch {arch}"
        )
    report["problems"] = problems
    return report


IMAGE_PACKAGES = ("numpy", "scipy", "torch", "onnxruntime", "onnxruntime-gpu")


def facts() -> dict:
    """Python, the GPU, and the versions of the packages the kit takes from the image."""
    names = [*IMAGE_PACKAGES]
    names += sorted(
        d.metadata["Name"]
        for d in importlib.metadata.distributions()
        if (d.metadata["Name"] or "").lower().startswith("nvidia-")
    )
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "gpu": _nvidia_smi("name,driver_version,compute_cap"),
        "packages": versions,
    }


def _nvidia_smi(query: str) -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0] if out else None


def compute_capability() -> int | None:
    """The first GPU's compute capability as one number (9.0 -> 90), or None without one."""
    out = _nvidia_smi("compute_cap")
    try:
        return round(float(out) * 10) if out else None
    except ValueError:
        return None
