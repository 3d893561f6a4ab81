"""GPU checks driven by scripts/gpu_check.sh (runs on CPU too, for its tests).

``python -m benchmarks.gpu models [--providers cuda] [--models-dir DIR] [--model NAME ...]``
  loads every model through :class:`app.registry.ModelRegistry` and prints one JSON line per
  model: provider, fallback and reason, node placement, CPU nodes of concern, load and warm-up
  times (or the error that stopped it).

``python -m benchmarks.gpu parity --against cuda [--tf32] [--audio CLIP] [--tolerance 1e-4]``
  runs every model's chunks of one clip on CPU and on ``--against``, prints one JSON line per
  model with the largest probability difference, and exits 1 when one passes the tolerance
  (``--report-only``: never fails, for the TF32 run whose differences are only reported).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.registry import ModelRegistry
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    probe = ModelRegistry(Settings(models_dir=args.models_dir, providers="cpu"))
    names = args.model or probe.names()
    if args.command == "models":
        registry = ModelRegistry(Settings(models_dir=args.models_dir, providers=args.providers))
        rows = [load_report(registry, name) for name in names]
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
