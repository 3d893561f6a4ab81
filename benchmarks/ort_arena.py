"""onnxruntime's CPU arena in the server's conditions (benchmark, not a test):
``python -m benchmarks.ort_arena [--models pons_musicnn,won_musicnn] [--rounds 5]``.

The server pins glibc's mmap threshold (``TAGGER_MALLOC_MMAP_THRESHOLD_KB``, 1 MiB), so without
onnxruntime's arena every run's large activation buffers are mmapped, zeroed page by page and
unmapped again. Per model:

* CPU: one process, the mmap threshold pinned as the server does, two sessions of the service's
  options (1 intra-op thread), one with ``enable_cpu_mem_arena`` and one without; rounds of 10
  batch-4 runs each, alternating; median user and system CPU per run (/proc/self/stat).
* RSS: a fresh process per memory mode (``off``, ``session`` = the service's arena, ``env`` = an
  env-wide arena with ``kSameAsRequested``, ``pattern`` = arena + memory patterns): VmRSS after
  loading, then after two threads ran batches of 1, 2, 3 and 4 rows at once (3 runs each).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from benchmarks.results import finish

MODES = ("off", "session", "env", "pattern")


def _cpu_s() -> tuple[float, float]:
    f = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(f[11]) / tick, int(f[12]) / tick


def _rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


def _session(name: str, mode: str):
    import onnxruntime as ort

    from app.config import DEFAULT_MODELS_DIR, Settings
    from app.registry import ModelRegistry

    registry = ModelRegistry(Settings(models_dir=DEFAULT_MODELS_DIR, providers="cpu"))
    options = registry.session_options(cuda=False)
    options.enable_cpu_mem_arena = mode != "off"
    options.enable_mem_pattern = mode == "pattern"
    if mode == "env":
        info = ort.OrtMemoryInfo(
            "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
        )
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))  # kSameAsRequested
        options.add_session_config_entry("session.use_env_allocators", "1")
    return ort.InferenceSession(
        str(DEFAULT_MODELS_DIR / name / "model.onnx"),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=registry.card(name).ort_disabled_optimizers or None,
    )


def _inputs(sess, rows: int) -> dict[str, np.ndarray]:
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(rows).standard_normal((rows, inp.shape[1])) * 0.1
    return {inp.name: x.astype(np.float32)}


def rss_child(name: str, mode: str) -> dict:
    """In a fresh process: RSS before, after load, after two threads ran batches 1..4."""
    from app.memory import pin_mmap_threshold

    pin_mmap_threshold(1024 * 1024)
    start = _rss_mb()
    sess = _session(name, mode)
    loaded = _rss_mb()
    for rows in (1, 2, 3, 4):
        feed = _inputs(sess, rows)
        threads = [
            threading.Thread(target=lambda f=feed: [sess.run(None, f) for _ in range(3)])
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return {"start_mb": start, "loaded_mb": loaded, "after_runs_mb": _rss_mb()}


def cpu_child(name: str, rounds: int) -> dict:
    """In one process: arena off / on, alternating rounds of 10 batch-4 runs."""
    from app.memory import pin_mmap_threshold

    pin_mmap_threshold(1024 * 1024)
    sessions = {"off": _session(name, "off"), "session": _session(name, "session")}
    feed = _inputs(sessions["off"], 4)
    for s in sessions.values():
        s.run(None, feed)
    figures: dict[str, list[tuple[float, float]]] = {k: [] for k in sessions}
    for _ in range(rounds):
        for k, s in sessions.items():
            u0, s0 = _cpu_s()
            for _ in range(10):
                s.run(None, feed)
            u1, s1 = _cpu_s()
            figures[k].append((100 * (u1 - u0), 100 * (s1 - s0)))  # ms per run
    return {
        k: {
            "user_ms_per_run": float(np.median([f[0] for f in v])),
            "sys_ms_per_run": float(np.median([f[1] for f in v])),
        }
        for k, v in figures.items()
    }


def child(argv: list[str]) -> None:
    kind, name, arg = argv
    out = rss_child(name, arg) if kind == "rss" else cpu_child(name, int(arg))
    print(json.dumps(out))


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ort_arena", "--child", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ort_arena", description=__doc__)
    p.add_argument("--models", default="pons_musicnn,won_musicnn")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json-out", type=Path, default=None)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child)
        return {}
    result: dict = {"load_avg_before": os.getloadavg(), "models": {}}
    for name in [m for m in args.models.split(",") if m]:
        cpu = run_child("cpu", name, str(args.rounds))
        rss = {mode: run_child("rss", name, mode) for mode in MODES}
        result["models"][name] = {"cpu": cpu, "rss": rss}
        for k, v in cpu.items():
            print(f"{name} arena {k}: user {v['user_ms_per_run']:.0f} sys "
                  f"{v['sys_ms_per_run']:.0f} ms per batch-4 run")  # fmt: skip
        for mode, v in rss.items():
            print(f"{name} RSS {mode}: {v['loaded_mb']} MB loaded, {v['after_runs_mb']} MB "
                  "after runs")  # fmt: skip
    return finish(result, args.json_out)


if __name__ == "__main__":
    main()
