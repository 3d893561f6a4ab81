"""``python -m benchmarks.gpukit``: carry scripts/gpu_check.sh to a bare GPU machine.

``build [--kit .gpukit] [--python 3.12] [--arch 90] [--call-mib 64]``
  stages the service's packages for the device image (:mod:`benchmarks.gpukit.stage`), keeps
  only ``--arch``'s code in the CUDA provider (``--arch 0``: every architecture, about twice the
  parts), adds the direct musicnn graphs the check
  compares, compresses it all and cuts it into parts that each fit one device call beside the
  working tree (:mod:`benchmarks.gpukit.budget`); prints the calls to make.
``plan [--kit .gpukit] [--call-mib 64]``
  the device calls again, one per part.
``unpack --to DIR [--kit .gpukit]`` (standard library only; runs on the device)
  extracts the kit once all its parts are there (exit 3, naming the parts still to send, when
  some are not) into ``DIR/site`` and ``DIR/gpu_forms``, and links ``DIR/site/nvidia`` to the
  image's ``nvidia`` package: ``onnxruntime.preload_dlls()`` looks for the CUDA and cuDNN
  libraries beside onnxruntime only.
``doctor --site DIR [--kit .gpukit]``
  onnxruntime comes from the kit, lists the CUDA provider, and the GPU's compute capability is
  the kit's; one JSON line with the machine's facts, exit 1 when not.
``facts`` (standard library only)
  the machine in one JSON line: Python, the GPU and driver, the versions of the packages the
  kit relies on the image for.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from benchmarks.gpukit import budget, device, parts, stage

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / ".gpukit"
DEVICE_SCRIPT = "scripts/device_gpu_check.sh"


def build(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="gpukit-") as tmp:
        work = Path(tmp)
        site, forms = work / "site", work / "gpu_forms"
        print(f"staging packages for CPython {args.python} ...", flush=True)
        stage.pip_install(
            stage.requirements(ROOT / "pyproject.toml"), site, ROOT / "constraints.txt", args.python
        )
        removed = stage.prune(site)
        kept = stage.strip_cuda(site, args.arch) if args.arch else None
        written = stage.direct_forms(ROOT, forms)
        print("compressing (xz -9) ...", flush=True)
        archive = work / "kit.tar.xz"
        parts.compress({"site": site, "gpu_forms": forms}, archive)
        info = {
            "python": args.python,
            "arch": args.arch,
            "packages": sorted(p.name for p in site.glob("*.dist-info")),
            "removed": removed,
            "cuda_provider": asdict(kept) if kept else "every architecture kept",
            "gpu_forms": written,
            "tree_bytes": budget.tree_bytes(ROOT),
            "commit": _git_head(),
        }
        room = budget.part_bytes(ROOT, limit=args.call_mib * budget.MIB)
        manifest = parts.split(archive, args.kit, room, info)
    total = sum(p.bytes for p in manifest.parts)
    print(f"kit: {total / budget.MIB:.1f} MiB in {len(manifest.parts)} parts under {args.kit}")
    print_plan(manifest, args.kit)
    return 0


def _git_head() -> str:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True
    )
    return head.stdout.decode().strip() or "unknown"


def print_plan(manifest: parts.Manifest, kit: Path) -> None:
    """One device call per part, back to back (the machine keeps a part only while it is warm).
    ``carry`` takes folders inside the repository that git ignores: a kit elsewhere is named
    as it is, with a warning."""
    inside = kit.resolve().is_relative_to(ROOT)
    rel = kit.resolve().relative_to(ROOT) if inside else kit
    if not inside:
        print(f"gpukit: {kit} is outside the repository; carry cannot take it", file=sys.stderr)
    env = "" if kit.resolve() == KIT else f"GPUKIT_PARTS={rel} "
    last = len(manifest.parts)
    for part in manifest.parts:
        timeout = 600 if part.index == last else 120
        print(
            f'run(command="{env}bash {DEVICE_SCRIPT}", carry=["{rel}/{part.index}"], '
            f"timeout_s={timeout})"
        )


def plan(args: argparse.Namespace) -> int:
    manifest = parts.manifest_of(args.kit)
    room = budget.part_bytes(ROOT, limit=args.call_mib * budget.MIB, margin=budget.MANIFEST_ROOM)
    if max(p.bytes for p in manifest.parts) > room:
        print(
            f"gpukit: the working tree grew since the kit was built: a part is "
            f"{max(p.bytes for p in manifest.parts)} bytes, a call has room for {room}; "
            "build it again",
            file=sys.stderr,
        )
        return 2
    print_plan(manifest, args.kit)
    return 0


def unpack(args: argparse.Namespace) -> int:
    try:
        manifest = parts.unpack(args.kit, args.to)
    except parts.MissingParts as exc:
        print(f"gpukit: {exc}", file=sys.stderr)
        return 3
    except parts.KitError as exc:
        print(f"gpukit: {exc}", file=sys.stderr)
        return 2
    print(f"gpukit: {len(manifest.parts)} parts extracted into {args.to}")
    nvidia = device.link_nvidia(args.to / "site")
    print(f"gpukit: nvidia libraries: {nvidia or 'none found outside the kit'}")
    return 0


def doctor(args: argparse.Namespace) -> int:
    manifest = parts.manifest_of(args.kit)
    report = {"kit_commit": manifest.info.get("commit"), **device.facts()}
    report.update(device.check(args.site, manifest.info.get("arch") or None))
    print(json.dumps(report))
    return 1 if report["problems"] else 0


def print_facts(args: argparse.Namespace) -> int:
    print(json.dumps(device.facts()))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gpukit", description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="stage, compress and cut the kit")
    b.add_argument("--python", default="3.12", help="the device's Python (default 3.12)")
    b.add_argument(
        "--arch",
        type=int,
        default=90,
        help="compute capability to keep (90: H100/H200; 0: every one)",
    )
    b.set_defaults(run=build)
    sub.add_parser("plan", help="the device calls, one per part").set_defaults(run=plan)
    u = sub.add_parser("unpack", help="extract the kit once every part is here")
    u.add_argument("--to", type=Path, required=True)
    u.set_defaults(run=unpack)
    d = sub.add_parser("doctor", help="onnxruntime from the kit, on a GPU the kit is for")
    d.add_argument("--site", type=Path, required=True)
    d.set_defaults(run=doctor)
    sub.add_parser("facts", help="the machine in one JSON line").set_defaults(run=print_facts)
    for s in (b, u, d, sub.choices["plan"]):
        s.add_argument("--kit", type=Path, default=KIT, help="the parts' folder (default .gpukit)")
    for s in (b, sub.choices["plan"]):
        s.add_argument(
            "--call-mib",
            type=int,
            default=budget.CALL_LIMIT // budget.MIB,
            help="what one device call carries, working tree included (default 64, the device "
            "tool's limit)",
        )
    return p


def main(argv: list[str] | None = None) -> int:
    """Exit 2 with one line naming what is wrong (no kit, a part, pip, git), not a traceback."""
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (parts.KitError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"gpukit {args.command}: {exc}", file=sys.stderr)
        return 2
