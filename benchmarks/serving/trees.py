"""Two checkouts' services on the same model, alternating (benchmark, not a test).

    git worktree add /tmp/before <commit>
    python -m benchmarks.serving.trees /tmp/before . --model pons_musicnn \\
        --concurrency 4,16 --requests 64 --rounds 5 --json-out OUT.json

For a change to the service's own code rather than to a model file: each checkout serves the
same models directory (this checkout's ``models/`` unless ``--models-dir``) from its own
``app``, with the same interpreter and packages, so only the code differs. Both servers start
once and stay up; each round sends ``--requests`` uploads of the MTAT clip at every
concurrency to each in turn, the order rotating from round to round
(:func:`benchmarks.results.alternating`), while the other one idles. Printed per level: each
side's clips/s and server CPU per request (medians over rounds), the medians (min-max) of the
per-round ratios AFTER / BEFORE, and the load average. The JSON names the checkouts by commit
(and whether they had uncommitted changes), never by path.

With ``--prepare`` no server starts: each round runs ``benchmarks/serving/prepare_cost.py``
once per checkout, in a fresh process with that checkout on ``PYTHONPATH``, and compares the
CPU time and page faults of the prepare step of one upload (decode, chunk, the runs' row cuts)
on one thread, without the noise of inference and HTTP around it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.config import DEFAULT_MODELS_DIR, Settings
from app.errors import UnknownModelError
from app.registry import ModelRegistry
from benchmarks.results import alternating, finish, ratios
from benchmarks.serving.client import load_generator
from benchmarks.serving.clips import MTAT_CLIP
from benchmarks.serving.measure import proc_cpu_s
from benchmarks.serving.server import Server

SIDES = ("before", "after")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.serving.trees", description=__doc__.split("\n")[0]
    )
    p.add_argument("before", type=Path, help="checkout served as 'before'")
    p.add_argument("after", type=Path, help="checkout served as 'after'")
    p.add_argument("--model", required=True, help="the model both serve")
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    p.add_argument("--concurrency", default="4,16", help="levels, e.g. 4,16")
    p.add_argument("--requests", type=int, default=64, help="requests per level and side")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--prepare", action="store_true",
                   help="compare the prepare step of one upload instead of the servers")  # fmt: skip
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    for side in SIDES:
        tree = getattr(args, side).resolve()
        if not (tree / "app" / "main.py").is_file():
            p.error(f"{side}: {tree} is not a checkout of this project (no app/main.py)")
        setattr(args, side, tree)
    try:
        args.concurrency = sorted({int(c) for c in args.concurrency.split(",") if c.strip()})
    except ValueError:
        p.error(f"--concurrency takes integers like 4,16, got {args.concurrency!r}")
    if not args.concurrency or min(args.concurrency) < 1 or args.requests < 1 or args.rounds < 1:
        p.error("--concurrency levels, --requests and --rounds must be >= 1")
    try:  # before any server or process starts
        ModelRegistry(Settings(models_dir=args.models_dir)).check_name(args.model)
    except UnknownModelError as exc:
        p.error(str(exc))
    return args


def describe(tree: Path) -> dict[str, Any]:
    """A checkout as the JSON names it: its commit and whether its tracked files have
    uncommitted changes (untracked files, such as this run's reports, do not count)."""

    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tree), *cmd], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


PREPARE_COST = Path(__file__).with_name("prepare_cost.py")


def run_prepare(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    """``--prepare``: prepare_cost.py under each checkout in turn, in fresh processes."""
    figures: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}

    def measure(side: str) -> float:
        cmd = [sys.executable, "-P", str(PREPARE_COST), args.model]  # -P: imports from the tree
        cmd += ["--models-dir", str(args.models_dir.resolve())]
        env = {**os.environ, "PYTHONPATH": str(getattr(args, side)), "TAGGER_PROVIDERS": "cpu"}
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{side}: prepare_cost.py failed:\n{out.stderr[-2000:]}")
        figures[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
        return figures[side][-1]["cpu_ms"]

    cpu = alternating(measure, SIDES, args.rounds)
    faults = {side: [f["minor_faults"] for f in figures[side]] for side in SIDES}
    result["prepare"] = {
        "cpu_ms": cpu,
        "minor_faults": faults,
        "cpu_ms_ratio": ratios(cpu["after"], cpu["before"]),  # < 1: after spends less
    }
    q = result["prepare"]["cpu_ms_ratio"]
    print(
        f"{args.model} prepare, one upload: CPU ms before {statistics.median(cpu['before']):.2f} "
        f"after {statistics.median(cpu['after']):.2f}, after/before {q[0]:.3f} "
        f"({q[1]:.3f}-{q[2]:.3f}); minor faults before {statistics.median(faults['before']):.0f} "
        f"after {statistics.median(faults['after']):.0f}; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "model": args.model,
        "requests": args.requests,
        "rounds": args.rounds,
        "trees": {side: describe(getattr(args, side)) for side in SIDES},
        "load_avg_before": os.getloadavg(),
        "levels": {},
    }
    if args.prepare:
        return run_prepare(args, result)
    env = {
        "TAGGER_MODELS_DIR": str(args.models_dir.resolve()),
        "TAGGER_DEFAULT_MODEL": args.model,
        "TAGGER_PROVIDERS": "cpu",
        "TAGGER_LOG_LEVEL": "WARNING",
    }
    clip = [str(MTAT_CLIP)]
    ctx = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="tagger-trees-") as tmp,
        concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as loadgen,
    ):
        servers = {
            side: Server(env, Path(tmp) / f"{side}.log", repo=getattr(args, side)) for side in SIDES
        }
        try:
            for c in args.concurrency:
                cpu_ms: dict[str, list[float]] = {side: [] for side in SIDES}

                def measure(side: str, c: int = c, cpu_ms: dict = cpu_ms) -> float:
                    server = servers[side]
                    cpu0 = proc_cpu_s(server.proc.pid)
                    out = loadgen.submit(
                        load_generator, server.url, clip, c, args.requests
                    ).result()
                    ok = out["statuses"].get("200", 0)
                    if ok != args.requests:
                        raise RuntimeError(f"{side}: statuses {out['statuses']}")
                    cpu_ms[side].append(1000 * (proc_cpu_s(server.proc.pid) - cpu0) / ok)
                    return ok / out["wall_s"]

                for side in SIDES:  # warm-up: first connections and runs at this level
                    loadgen.submit(load_generator, servers[side].url, clip, c, c).result()
                rate = alternating(measure, SIDES, args.rounds)
                result["levels"][str(c)] = level = summarise(rate, cpu_ms)
                print_level(args.model, c, level)
        finally:
            for server in servers.values():
                server.stop()
    return result


def summarise(rate: dict[str, list[float]], cpu_ms: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "clips_per_s": rate,
        "server_cpu_ms": cpu_ms,
        "clips_per_s_ratio": ratios(rate["after"], rate["before"]),  # > 1: after is faster
        "cpu_ms_ratio": ratios(cpu_ms["after"], cpu_ms["before"]),  # < 1: after spends less
    }


def print_level(model: str, c: int, level: dict[str, Any]) -> None:
    rate, cpu = level["clips_per_s"], level["server_cpu_ms"]
    r, q = level["clips_per_s_ratio"], level["cpu_ms_ratio"]
    print(
        f"{model} c={c}: clips/s before {statistics.median(rate['before']):.2f} after "
        f"{statistics.median(rate['after']):.2f}, after/before {r[0]:.3f} ({r[1]:.3f}-{r[2]:.3f}); "
        f"server CPU ms/request before {statistics.median(cpu['before']):.1f} after "
        f"{statistics.median(cpu['after']):.1f}, after/before {q[0]:.3f} ({q[1]:.3f}-{q[2]:.3f}); "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    return finish(run(args), args.json_out)


if __name__ == "__main__":
    main()
