"""CUDA diagnostics for the registry: the NVIDIA driver's version, onnxruntime's DLL preload
report, and where a session's nodes run (execution provider per node, from a profile).

onnxruntime-gpu 1.31 is built against CUDA 13, whose libraries need an NVIDIA driver >= 580.
``onnxruntime.preload_dlls()`` prints ``Failed to load ...`` instead of raising, and a session
asked for the CUDA provider may still place some nodes on the CPU: both are only visible by
reading what onnxruntime reports, which this module does.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

MIN_DRIVER = 580
"""Oldest NVIDIA driver branch that runs CUDA 13 (the CUDA onnxruntime-gpu 1.31 is built on)."""

CPU = "CPUExecutionProvider"

SHAPE_OPS = frozenset(
    {
        "Shape",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Concat",
        "Slice",
        "Reshape",
        "Cast",
        "ConstantOfShape",
        "Range",
        "Size",
        "Expand",
        "Equal",
        "Where",
        "Constant",
    }
)
"""Operators onnxruntime places on the CPU on purpose when they compute shapes (small int64
tensors): a CUDA session with only these on the CPU is placed as intended."""

_FAILED = re.compile(r"^Failed to load (\S+?):? (.*)$", re.MULTILINE)
_PROC_VERSION = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)+)")


def driver_version(proc: Path = Path("/proc/driver/nvidia/version")) -> str | None:
    """The NVIDIA driver's version (``"580.65.06"``), or None when no driver is found.

    Read from ``/proc/driver/nvidia/version`` (present whenever the kernel module is loaded),
    else from ``nvidia-smi --query-gpu=driver_version``.
    """
    try:
        match = _PROC_VERSION.search(proc.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
    except OSError:
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.strip().splitlines()
    return first[0].strip() if first else None


def driver_note(version: str | None) -> str:
    """One sentence on the driver found against the one CUDA 13 needs (for error messages)."""
    need = f"CUDA 13 (onnxruntime-gpu 1.31) needs an NVIDIA driver >= {MIN_DRIVER}"
    if version is None:
        return f"no NVIDIA driver found (no /proc/driver/nvidia/version, no nvidia-smi); {need}"
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return f"NVIDIA driver {version} found; {need}"
    verdict = "too old" if major < MIN_DRIVER else "new enough"
    return f"NVIDIA driver {version} found ({verdict}); {need}"


def preload_failures(text: str) -> list[str]:
    """The ``Failed to load <library>: <error>`` lines of ``preload_dlls()``'s output, as
    ``"<library>: <error>"``."""
    return [f"{lib}: {why}" for lib, why in _FAILED.findall(text)]


@contextlib.contextmanager
def captured_fds() -> Iterator[Callable[[], str]]:
    """Capture what is written inside the block to file descriptors 1 and 2 (native code) and
    to ``sys.stdout``/``sys.stderr`` (``print``, even when they are not those descriptors); the
    yielded function returns the text after the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    text = ""
    python = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(python), contextlib.redirect_stderr(python):
                yield lambda: text
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            text = python.getvalue() + sink.read().decode("utf-8", errors="replace")


def preload_report(preload: Callable[[], object]) -> tuple[str, list[str]]:
    """Run ``preload`` (``onnxruntime.preload_dlls``) with its output captured: ``(output,
    failures)``; an exception it raises counts as a failure too."""
    failures: list[str] = []
    with captured_fds() as output:
        try:
            preload()
        except Exception as exc:  # recorded below, with the printed failures
            failures.append(f"preload_dlls raised {type(exc).__name__}: {exc}")
    text = output()
    return text, preload_failures(text) + failures


@dataclass
class Placement:
    """Nodes of one session per execution provider, and the CPU ones per operator."""

    by_provider: dict[str, int] = field(default_factory=dict)
    cpu_by_op: dict[str, int] = field(default_factory=dict)


def placement_from_profile(path: Path) -> Placement:
    """Count the distinct nodes per provider in an onnxruntime profile (chrome-trace JSON).

    Node events have ``cat == "Node"``, ``name == "<node>_kernel_time"`` and ``args.provider`` /
    ``args.op_name`` (other node events, such as fences, are skipped); a node run several times
    (several warm-up shapes) counts once.
    """
    events = json.loads(Path(path).read_text(encoding="utf-8"))
    nodes: dict[str, tuple[str, str]] = {}
    for event in events:
        args = event.get("args") or {}
        name = str(event.get("name", ""))
        if (
            event.get("cat") != "Node"
            or "provider" not in args
            or not name.endswith("_kernel_time")
        ):
            continue
        nodes[name.removesuffix("_kernel_time")] = (
            str(args["provider"]),
            str(args.get("op_name", "?")),
        )
    by_provider = Counter(provider for provider, _ in nodes.values())
    cpu_by_op = Counter(op for provider, op in nodes.values() if provider == CPU)
    return Placement(dict(sorted(by_provider.items())), dict(sorted(cpu_by_op.items())))


def cpu_nodes_of_concern(cpu_by_op: dict[str, int]) -> dict[str, int]:
    """CPU nodes of a CUDA session that do real work: every operator but the shape
    arithmetic in :data:`SHAPE_OPS` (those run on the CPU by design)."""
    return {op: n for op, n in cpu_by_op.items() if op not in SHAPE_OPS}
