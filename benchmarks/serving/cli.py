"""Serving benchmark (not a test): ``python -m benchmarks.serving [--model NAME] ...``"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from app.config import DEFAULT_MODELS_DIR, Settings
from app.registry import ModelRegistry
from benchmarks.serving.clips import make_clips
from benchmarks.serving.report import write_summary
from benchmarks.serving.runner import bench_model
from benchmarks.serving.server import SETTING_FLAGS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.serving", description=__doc__.split("\n")[0]
    )
    p.add_argument("--model", action="append", help="model name (repeatable or comma-separated; "
                   "default: the service's default model, 'all' = every model)")  # fmt: skip
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    p.add_argument("--clips", type=int, default=8, help="distinct clips (default 8)")
    p.add_argument("--concurrency", default="1,4,16", help="levels, e.g. 1,4,16")
    p.add_argument("--requests", type=int, default=128, help="requests per level (default 128)")
    p.add_argument("--floor-requests", type=int, default=None,
                   help="at most this many requests per floor measurement (default: --requests)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=1,
                   help="repeat each served and floor measurement, report the median")  # fmt: skip
    p.add_argument("--clip-source", choices=("synth", "mtat"), default="synth")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw",
                   help="load generator: minimal asyncio HTTP/1.1 client (default) or httpx")  # fmt: skip
    p.add_argument("--providers", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--max-batch", type=int, default=None)
    p.add_argument("--batch-wait-ms", type=float, default=None)
    p.add_argument("--intra-op-threads", type=int, default=None)
    p.add_argument("--inference-threads", type=int, default=None)
    p.add_argument("--max-queue", type=int, default=None)
    p.add_argument("--decode-concurrency", type=int, default=None)
    p.add_argument("--checkpoint", type=Path, default=None, help="torch weights for the torch run")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch eager comparison")
    p.add_argument("--smoke", action="store_true",
                   help="tiny run: --clips 2 --concurrency 1 --requests 4, 5 s clips")  # fmt: skip
    p.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.smoke:
        args.clips, args.concurrency, args.requests = 2, "1", 4
    try:
        args.concurrency = sorted({int(c) for c in str(args.concurrency).split(",") if c.strip()})
    except ValueError:
        p.error(f"--concurrency takes integers like 1,4,16, got {args.concurrency!r}")
    if not args.concurrency or min(args.concurrency) < 1:
        p.error("--concurrency levels must be >= 1")
    if args.clips < 1 or args.requests < 1 or args.repeats < 1:
        p.error("--clips, --requests and --repeats must be >= 1")
    if args.floor_requests is not None and args.floor_requests < 1:
        p.error("--floor-requests must be >= 1")
    overrides = {k: getattr(args, k) for k in SETTING_FLAGS if getattr(args, k) is not None}
    try:
        Settings(**overrides)  # the server would refuse the same values at start-up
    except ValidationError as exc:
        p.error("; ".join(f"--{e['loc'][0].replace('_', '-')}: {e['msg']}" for e in exc.errors()))
    args.models_dir = args.models_dir.resolve()
    return args


def model_names(args: argparse.Namespace) -> list[str]:
    """The models to run: ``--model`` names (comma-separated or repeated), ``all``, or the
    service's default; an unknown name is a clear error listing the valid ones."""
    registry = ModelRegistry(Settings(models_dir=args.models_dir))
    names = [n for item in args.model or [] for n in item.split(",") if n]
    if not names:
        names = [registry.choose_default()]
    elif names == ["all"]:
        names = registry.names()
    for n in names:
        registry.check_name(n)  # a clear error listing the valid names
    return names


def clips_for(args: argparse.Namespace) -> list[bytes]:
    """The run's uploads (5-s clips with ``--smoke``, else MTAT's 29.1 s), with a line about them."""
    seconds = 5.0 if args.smoke else 29.1
    t = time.perf_counter()
    clips = make_clips(args.clips, args.clip_source, seconds=seconds)
    print(
        f"{len(clips)} {args.clip_source} clips of {seconds} s "
        f"({np.mean([len(c) for c in clips]) / 1024:.0f} KiB MP3 on average) in "
        f"{time.perf_counter() - t:.1f} s; {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    return clips


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the flags, benchmark each model in turn, print (and write) the JSON summary."""
    args = parse_args(argv)
    names = model_names(args)
    clips = clips_for(args)
    results = {}
    with tempfile.TemporaryDirectory(prefix="tagger-bench-") as tmp:
        for name in names:
            results[name] = bench_model(args, name, clips, Path(tmp))
    return write_summary(results, args.json_out)
