"""Two ONNX files of one model, timed alternating in the service's CPU layout (benchmark, not a
test): ``python -m benchmarks.onnx_ab A.onnx B.onnx [--chunk-samples N] [--rounds 7]``.

For a graph change that must not change answers (e.g. the ``pons_*`` ports' pooled
conv -> ReLU -> BN order, ``training.models.pretrained.pons.ConvReLUBN``): both files run the
same random chunks, one chunk per run, two threads sharing one session (the service's CPU
layout: ``TAGGER_MAX_BATCH`` 1, one inference thread per core, and the service's session options,
``ModelRegistry.session_options``: one intra-op thread per run on 2 cores), NCHWc and
every other optimisation on unless ``--disable`` names them; A and B alternate each round, the
order swapping. Printed: ms per chunk of each (wall / 2 threads, median over rounds), the median
of the per-round ratios A / B (> 1: B is faster), the max |difference| of the outputs, and the
load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from benchmarks.results import alternating, ratios

REPO = Path(__file__).resolve().parents[1]


def label(path: Path) -> dict[str, str]:
    """A file as the JSON names it: its path in the repository (else its file name, no machine
    path) and its sha256 (which model file it was, wherever it lay)."""
    resolved = path.resolve()
    name = resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else Path(path.name)
    return {"file": str(name), "sha256": hashlib.sha256(resolved.read_bytes()).hexdigest()}


def session(path: Path, disabled: list[str]) -> ort.InferenceSession:
    """A CPU session of ``path`` with the service's own options
    (:meth:`app.registry.ModelRegistry.session_options`)."""
    from app.config import Settings
    from app.registry import ModelRegistry

    options = ModelRegistry(Settings(providers="cpu")).session_options(cuda=False)
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )


def per_chunk_ms(sess: ort.InferenceSession, x: np.ndarray, threads: int) -> float:
    """Wall ms per chunk with ``threads`` threads each running every row of ``x`` one by one."""
    name = sess.get_inputs()[0].name

    def work() -> None:
        for row in x:
            sess.run(None, {name: row[None]})

    pool = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return 1000 * (time.perf_counter() - t0) / (threads * len(x))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m benchmarks.onnx_ab", description=__doc__)
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--chunk-samples", type=int, default=48128)
    p.add_argument("--chunks", type=int, default=16, help="chunks per thread per round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--disable", default="", help="optimizers to leave out, comma-separated")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    for path in (args.a, args.b):
        if not path.is_file():
            p.error(f"no ONNX file at {path}")
    disabled = [d for d in args.disable.split(",") if d]
    sides = {"a": session(args.a, disabled), "b": session(args.b, disabled)}
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((args.chunks, args.chunk_samples))).astype(np.float32)
    name = sides["a"].get_inputs()[0].name
    outs = {k: s.run(None, {name: x[:4]})[0] for k, s in sides.items()}
    diff = float(np.abs(outs["a"] - outs["b"]).max())
    for s in sides.values():
        per_chunk_ms(s, x[:2], args.threads)  # warm-up
    load_before = os.getloadavg()
    times = alternating(lambda k: per_chunk_ms(sides[k], x, args.threads), ["a", "b"], args.rounds)
    a_over_b, low, high = ratios(times["a"], times["b"])
    result = {
        "a": label(args.a),
        "b": label(args.b),
        "ms_per_chunk": {k: statistics.median(v) for k, v in times.items()},
        "a_over_b": a_over_b,
        "a_over_b_range": [low, high],
        "max_abs_diff": diff,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
    }
    ms = result["ms_per_chunk"]
    print(
        f"A {ms['a']:.2f} ms, B {ms['b']:.2f} ms per chunk; A/B {a_over_b:.2f}x "
        f"({low:.2f}-{high:.2f}); max |diff| {diff:.1e}; load "
        f"{load_before[0]:.2f} -> {result['load_avg_after'][0]:.2f}"
    )
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
