"""GPU checks driven by scripts/gpu_check.sh (runs on CPU too, for its tests).

``python -m benchmarks.gpu models [--providers cuda] [--models-dir DIR] [--model NAME ...]``
  loads every model through :class:`app.registry.ModelRegistry` and prints one JSON line per
  model: provider, fallback and reason, node placement, CPU nodes of concern, load and warm-up
  times (or the error that stopped it).

``python -m benchmarks.gpu parity --against cuda [--tf32] [--audio CLIP] [--tolerance 1e-4]``
  runs every model's chunks of one clip on CPU and on ``--against``, prints one JSON line per
  model with the largest probability difference, and exits 1 when one passes the tolerance
  (``--report-only``: never fails, for the TF32 run whose differences are only reported).

``python -m benchmarks.gpu conv1d [--providers cuda] [--rounds 5] [--audio CLIP]``
  cuDNN's two layouts for 1-D convolutions (``TAGGER_CUDA_CONV1D_PAD_TO_NC1D`` off / on: the
  CUDA provider's ``cudnn_conv1d_pad_to_nc1d``): per model, two sessions run the clip's chunks
  (the card's clip rule, batches of ``max_batch``) alternating, the order swapping each round;
  one JSON line per model with ms per chunk of each (median over rounds), the median of the
  per-round ratios off / on (> 1: padding to NC1D is faster) and the max |Δp| between them.
  Reported, never a gate (exit 1 only when a model fails to run). On CPU (``--providers cpu``)
  the option does nothing and the two sides are the same session options: that is how the
  tests run it.

``python -m benchmarks.gpu ab A.onnx B.onnx [--providers cuda] [--batch 16] [--rounds 5]``
  two graphs of one model (e.g. ``won_musicnn``'s direct timbral convolutions, ``git show
  88912f7:models/won_musicnn/model.onnx``, against its DFT form) in sessions made by the
  service's own :meth:`app.registry.ModelRegistry.create_session`, on the same random batch,
  alternating, the order swapping each round: one JSON line with ms per chunk of each (median),
  the median of the per-round ratios A / B (> 1: B is faster) and the max |Δp|.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.registry import ModelRegistry
from benchmarks.results import alternating, ratios
from tagging.audio import decode

ROOT = Path(__file__).resolve().parent.parent
MTAT_CLIP = ROOT / "tests" / "data" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
MODELS_DIR = ROOT / "models"


def load_report(registry: ModelRegistry, name: str) -> dict[str, Any]:
    """Load ``name`` and describe where it runs (one JSON-ready dict; errors as ``error``)."""
    try:
        model = registry.get(name)
    except Exception as exc:  # ProviderUnavailableError too: reported, the next model goes on
        return {"model": name, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "model": name,
        "requested": model.requested,
        "provider": model.provider,
        "fallback": model.fallback,
        "fallback_reason": model.fallback_reason,
        "placement": model.placement,
        "load_ms": round(model.load_ms, 1),
        "warmup_ms": round(model.warmup_ms, 1),
        "max_batch": model.max_batch,
        "buckets": model.bucket,
    }


def clip_probabilities(registry: ModelRegistry, name: str, wave: np.ndarray) -> np.ndarray:
    """``(N, K)`` probabilities of the clip's chunks (the card's clip rule), one run per batch."""
    model = registry.get(name)
    chunks = model.clip_rule.chunks(wave)  # (N, L)
    return model.split(model.run_batched(chunks, model.max_batch))[0]  # (N, K + D) -> (N, K)


def parity_report(
    models_dir: Path, names: list[str], against: str, tf32: bool, audio: Path
) -> list[dict[str, Any]]:
    """Max |Δp| per model between CPU and ``against`` on the chunks of ``audio``."""
    wave = decode(audio, 16_000)
    cpu = ModelRegistry(Settings(models_dir=models_dir, providers="cpu"))
    other = ModelRegistry(
        Settings(models_dir=models_dir, providers=against, cuda_tf32=tf32)  # type: ignore[arg-type]
    )
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            reference = clip_probabilities(cpu, name, wave)
            probs = clip_probabilities(other, name, wave)
        except Exception as exc:  # reported; the gate counts it as a failure
            rows.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append(
            {
                "model": name,
                "provider": other.get(name).provider,
                "tf32": tf32,
                "chunks": int(len(reference)),
                "max_abs_diff": float(np.max(np.abs(probs - reference))),
                "clip_max_abs_diff": float(
                    np.max(np.abs(probs.mean(axis=0) - reference.mean(axis=0)))
                ),
            }
        )
    return rows


def conv1d_report(
    models_dir: Path, names: list[str], providers: str, rounds: int, audio: Path
) -> list[dict[str, Any]]:
    """Per model: ms per chunk with ``cudnn_conv1d_pad_to_nc1d`` off and on, alternating."""
    wave = decode(audio, 16_000)
    sides = {
        pad: ModelRegistry(
            Settings(models_dir=models_dir, providers=providers, cuda_conv1d_pad_to_nc1d=pad)  # type: ignore[arg-type]
        )
        for pad in (False, True)
    }
    rows: list[dict[str, Any]] = []
    for name in names:
        try:
            rows.append(
                _conv1d_model(
                    name, {pad: reg.get(name) for pad, reg in sides.items()}, wave, rounds
                )
            )
        except Exception as exc:  # reported; the next model goes on
            rows.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
    return rows


def _conv1d_model(name: str, models: dict, wave: np.ndarray, rounds: int) -> dict[str, Any]:
    chunks = models[False].clip_rule.chunks(wave)  # (N, L)
    # one untimed pass each (answers for the comparison)
    probs = {pad: m.split(m.run_batched(chunks, m.max_batch))[0] for pad, m in models.items()}

    def timed(pad: bool) -> float:
        t0 = time.perf_counter()
        models[pad].run_batched(chunks, models[pad].max_batch)
        return time.perf_counter() - t0

    seconds = alternating(timed, [False, True], rounds)
    n = len(chunks)
    return {
        "model": name,
        "provider": models[True].provider,
        "chunks": n,
        "ms_per_chunk_off": round(1000 * statistics.median(seconds[False]) / n, 3),
        "ms_per_chunk_on": round(1000 * statistics.median(seconds[True]) / n, 3),
        "off_over_on": round(ratios(seconds[False], seconds[True])[0], 3),
        "max_abs_diff": float(np.max(np.abs(probs[True] - probs[False]))),
    }


def ab_report(a: Path, b: Path, providers: str, batch: int, rounds: int) -> dict[str, Any]:
    """Two ONNX files of one model timed alternating on ``providers`` (service sessions)."""
    from benchmarks.onnx_ab import label

    registry = ModelRegistry(Settings(models_dir=MODELS_DIR, providers=providers))  # type: ignore[arg-type]
    sessions = {side: registry.create_session(path) for side, path in (("a", a), ("b", b))}
    first = sessions["a"][0].get_inputs()[0]
    length = first.shape[1]
    if not isinstance(length, int):
        raise ValueError(f"{a}: the input's chunk length is not fixed ({first.shape})")
    x = (0.1 * np.random.default_rng(0).standard_normal((batch, length))).astype(np.float32)

    def run(side: str) -> np.ndarray:
        session = sessions[side][0]
        feed = {session.get_inputs()[0].name: x}
        return session.run([session.get_outputs()[0].name], feed)[0]

    answers = {side: run(side) for side in ("a", "b")}  # also the warm-up

    def timed(side: str) -> float:
        t0 = time.perf_counter()
        for _ in range(5):
            run(side)
        return (time.perf_counter() - t0) / 5

    seconds = alternating(timed, ["a", "b"], rounds)
    return {
        "a": label(a),
        "b": label(b),
        "providers": [sessions["a"][1], sessions["b"][1]],
        "batch": batch,
        "ms_per_chunk_a": round(1000 * statistics.median(seconds["a"]) / batch, 4),
        "ms_per_chunk_b": round(1000 * statistics.median(seconds["b"]) / batch, 4),
        "a_over_b": round(ratios(seconds["a"], seconds["b"])[0], 3),
        "max_abs_diff": float(np.max(np.abs(answers["a"] - answers["b"]))),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--model", action="append", help="model name (repeatable; default: all)")
    sub = parser.add_subparsers(dest="command", required=True)
    models = sub.add_parser("models", help="load each model, print placement and times")
    models.add_argument("--providers", choices=["auto", "cuda", "cpu"], default="cuda")
    parity = sub.add_parser("parity", help="CPU vs --against on the MTAT clip")
    parity.add_argument("--against", choices=["auto", "cuda", "cpu"], default="cuda")
    parity.add_argument("--tf32", action="store_true", help="TAGGER_CUDA_TF32 on the GPU side")
    parity.add_argument("--audio", type=Path, default=MTAT_CLIP)
    parity.add_argument("--tolerance", type=float, default=1e-4)
    parity.add_argument("--report-only", action="store_true", help="never exit 1")
    conv1d = sub.add_parser("conv1d", help="cudnn_conv1d_pad_to_nc1d off vs on, alternating")
    conv1d.add_argument("--providers", choices=["auto", "cuda", "cpu"], default="cuda")
    conv1d.add_argument("--rounds", type=int, default=5)
    conv1d.add_argument("--audio", type=Path, default=MTAT_CLIP)
    ab = sub.add_parser("ab", help="two ONNX files of one model, alternating")
    ab.add_argument("a", type=Path)
    ab.add_argument("b", type=Path)
    ab.add_argument("--providers", choices=["auto", "cuda", "cpu"], default="cuda")
    ab.add_argument("--batch", type=int, default=16)
    ab.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.command in ("conv1d", "ab") and args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.command == "ab":
        if args.batch < 1:
            parser.error("--batch must be >= 1")
        for path in (args.a, args.b):
            if not path.is_file():
                parser.error(f"no ONNX file at {path}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "ab":
        try:
            row = ab_report(args.a, args.b, args.providers, args.batch, args.rounds)
        except Exception as exc:  # a file onnxruntime cannot load, no CUDA under cuda, ...
            print(f"python -m benchmarks.gpu ab: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(row), flush=True)
        return 0
    probe = ModelRegistry(Settings(models_dir=args.models_dir, providers="cpu"))
    names = args.model or probe.names()
    if args.command == "models":
        registry = ModelRegistry(Settings(models_dir=args.models_dir, providers=args.providers))
        rows = [load_report(registry, name) for name in names]
        failed = any("error" in row for row in rows)
    elif args.command == "conv1d":
        rows = conv1d_report(args.models_dir, names, args.providers, args.rounds, args.audio)
        failed = any("error" in row for row in rows)
    else:
        rows = parity_report(args.models_dir, names, args.against, args.tf32, args.audio)
        failed = (
            any("error" in row or row["max_abs_diff"] > args.tolerance for row in rows)
            and not args.report_only
        )
    for row in rows:
        print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
