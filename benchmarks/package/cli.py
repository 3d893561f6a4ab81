"""``python -m benchmarks.package``: flags, the alternating rounds, the summary."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from app.config import DEFAULT_MODELS_DIR
from benchmarks.package.clips import CLIP_S, make_clips
from benchmarks.package.report import agreement, print_table, summarize
from benchmarks.package.worker import PackageWorker
from benchmarks.serving.client import load_generator
from benchmarks.serving.server import Server

PACKAGE = "package"
DEFAULT_PYTHON = Path("/tmp/musicnn-venv/bin/python")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.package", description=__doc__)
    p.add_argument("--package-python", type=Path,
                   default=Path(os.environ.get("MUSICNN_PYTHON", DEFAULT_PYTHON)),
                   help="python of the musicnn package's venv (env MUSICNN_PYTHON)")  # fmt: skip
    p.add_argument(
        "--models", default="pons_musicnn,won_musicnn,won_musicnn_int8", help="served models"
    )
    p.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    p.add_argument("--concurrency", default="1,4", help="served levels (the package: 1)")
    p.add_argument("--rounds", type=int, default=10, help="rounds of one pass per side")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.concurrency = sorted({int(c) for c in args.concurrency.split(",") if c})
    if not args.package_python.exists():
        p.error(f"--package-python {args.package_python} does not exist (see scripts/"
                "bench_musicnn_package.py for the venv)")  # fmt: skip
    return args


def served_probabilities(url: str, model: str, clip: Path, labels: list[str]) -> np.ndarray:
    """``(50,)`` served clip probabilities of ``model`` in the package's label order."""
    import httpx

    r = httpx.post(f"{url}/predict", params={"model": model, "all_tags": "true"},
                   files={"file": (clip.name, clip.read_bytes())}, timeout=120)  # fmt: skip
    r.raise_for_status()
    p = {t["tag"]: t["probability"] for t in r.json()["tags"]}
    return np.asarray([p[t] for t in labels], dtype=np.float32)


def timed_pass(side: str, clips: list[Path], worker: PackageWorker, url: str) -> float:
    """Clips/s of one pass of ``side`` (``package`` or ``model@c``) over ``clips``."""
    if side == PACKAGE:
        t0 = time.perf_counter()
        for clip in clips:
            worker.tag(clip)
        return len(clips) / (time.perf_counter() - t0)
    model, c = side.split("@")
    query = f"/predict?model={model}&all_tags=true"
    out = load_generator(url, [str(p) for p in clips], int(c), len(clips), "raw", query)
    if set(out["statuses"]) != {"200"}:
        raise RuntimeError(f"{side}: answers {out['statuses']}")
    return len(clips) / out["wall_s"]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    sides = [PACKAGE] + [f"{m}@{c}" for m in args.models for c in args.concurrency]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        work = Path(tmp)
        clips = make_clips(work)
        env = {
            "TAGGER_MODELS_DIR": str(args.models_dir.resolve()),
            "TAGGER_DEFAULT_MODEL": args.models[0],
            "TAGGER_PROVIDERS": "cpu",
            "TAGGER_LOG_LEVEL": "WARNING",
        }
        worker = PackageWorker(args.package_python, work / "package.log")
        server = Server(env, work / "server.log")
        try:
            # Warm-up (untimed): every side once over the clips; the answers of the check.
            package_p = {c.name: worker.tag(c) for c in clips}
            served_p = {
                m: {c.name: served_probabilities(server.url, m, c, worker.labels) for c in clips}
                for m in args.models
            }
            for side in sides[1:]:
                timed_pass(side, clips, worker, server.url)
            rounds: list[dict[str, float]] = []
            for r in range(args.rounds):
                order = sides[r % len(sides) :] + sides[: r % len(sides)]
                rounds.append({s: timed_pass(s, clips, worker, server.url) for s in order})
                print(f"round {r + 1}: " + ", ".join(f"{s} {v:.2f}" for s, v in rounds[-1].items())
                      + f" clips/s; load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        finally:
            server.stop()
            worker.close()
    result = summarize(rounds, PACKAGE)
    result.update(
        clips=[c.name for c in clips],
        clip_s=CLIP_S,
        rounds=args.rounds,
        load_avg_before=load_before,
        load_avg_after=os.getloadavg(),
        cores=os.cpu_count(),
        package=f"musicnn 0.1.0 MTT_musicnn, tensorflow {worker.tensorflow}, batch 64",
        agreement={m: agreement(package_p, served_p[m], worker.labels) for m in args.models},
    )
    print_table(result)
    text = json.dumps(result, indent=1)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    else:
        print(text)
    return result
