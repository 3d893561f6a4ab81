"""Train and evaluate several architectures under the one learning setup; tables and plots.

``python -m training benchmark --mtat-root DIR --out DIR [--cache DIR] [--models a,b] [--quick]``

For each model: ``train`` into ``<out>/checkpoints/<model>/`` (resumable), then evaluate the best
checkpoint on the test split with per-tag thresholds tuned on valid (``evaluation.json``, plus
``test_predictions.npz`` for the curves). A model whose ``evaluation.json`` exists with the same
setup is not retrained. Then writes ``<out>/results.{md,json,csv}``, per-tag ROC-AUC / PR-AUC
tables (``per_tag_roc_auc.{md,csv}``, ``per_tag_pr_auc.{md,csv}``), PNG plots and
``environment.json`` (versions, CPU, thread count: :mod:`training.environment`).

``--quick`` uses the quick profile (small synthetic MTAT on CPU in minutes); with
``--synth-clips N`` a missing ``--mtat-root`` is first generated with :mod:`training.data.synth`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tagging.constants import SAMPLE_RATE
from tagging.files import atomic_write_text
from training.config import TrainConfig, profile
from training.environment import environment

log = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "model",
    "roc_auc",
    "pr_auc",
    "accuracy",
    "f1",
    "f1_tuned",
    "parameters",
    "input_samples",
    "input_seconds",
    "epochs",
    "best_epoch",
    "train_seconds",
    "inference_clips_per_s",
)
"""Columns of ``results.csv``: macro ROC-AUC / PR-AUC / F1 (at 0.5 and tuned), binary
accuracy (micro), size, input length, training time and test inference throughput."""


def _ensure_data(
    mtat_root: Path,
    cache_dir: Path,
    quick: bool,
    synth_clips: int | None,
    workers: int,
    progress: bool,
) -> None:
    from training.data.cache import CacheError, read_meta

    try:
        read_meta(cache_dir)
        return
    except CacheError:
        pass
    if not (mtat_root / "annotations_final.csv").is_file():
        if quick and synth_clips:
            from training.data.synth import synthesize

            log.info("generating a synthetic MTAT of %d clips in %s", synth_clips, mtat_root)
            synthesize(mtat_root, synth_clips, seed=0, workers=max(workers, 1), progress=progress)
        else:
            hint = " (with --quick, add --synth-clips N to generate one)" if quick else ""
            raise SystemExit(f"no MTAT at {mtat_root}: annotations_final.csv is missing{hint}")
    from training.data.prepare import prepare

    prepare(mtat_root, cache_dir, workers=workers, progress=progress)


def _saved_identity(path: Path) -> dict[str, Any] | None:
    """``run_identity`` of the config stored in ``last.pt`` (None when absent or unreadable)."""
    import torch

    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        return TrainConfig.from_dict(ckpt["config"]).run_identity()
    except Exception:  # a torn or foreign file: retrain from scratch
        return None


def run_model(
    config: TrainConfig,
    cache_dir: Path,
    checkpoints: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (or reuse) and evaluate one model; returns its ``evaluation.json`` content."""
    import torch

    from training.checkpoints import load_checkpoint_model
    from training.evaluate import evaluate_model, resolve_device

    run_dir = checkpoints / config.model
    eval_path = run_dir / "evaluation.json"
    identity = config.run_identity()
    if eval_path.is_file() and (run_dir / "test_predictions.npz").is_file():
        saved = json.loads(eval_path.read_text())
        if TrainConfig.from_dict(saved["config"]).run_identity() == identity:
            log.info(
                "%s: finished earlier with the same setup; reusing %s", config.model, eval_path
            )
            return saved
    resume = _saved_identity(run_dir / "last.pt") == identity
    eval_path.unlink(missing_ok=True)
    best = train_fn(config, cache_dir, checkpoints, resume=resume, progress=progress)

    device = resolve_device(config.device)
    model, ckpt = load_checkpoint_model(best, device)
    last = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)
    with cpu_threads(config.threads):  # the training's thread count: the same float sums
        evaluation = evaluate_model(
            model,
            cache_dir,
            config.chunk_samples,
            device,
            split="test",
            eval_chunks=config.eval_chunks,
            batch_size=config.eval_batch_size,
            amp=config.amp and device.type == "cuda",
            predictions_out=run_dir / "test_predictions.npz",
        )
    evaluation.update(
        model=config.model,
        config=config.to_dict(),
        parameters=int(ckpt["parameters"]),
        input={"samples": config.chunk_samples, "seconds": config.chunk_samples / SAMPLE_RATE},
        training={
            "epochs": int(last["epoch"]),
            "best_epoch": int(ckpt["best_epoch"]),
            "train_seconds": float(last["train_seconds"]),
            "select_metric": config.select_metric,
            "best_metric": ckpt["best_metric"],
            "history": last["history"],
        },
    )
    atomic_write_text(eval_path, json.dumps(evaluation, indent=2))
    return evaluation


@contextlib.contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` (0: left as it is), restored after."""
    import torch

    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_fn(*args: Any, **kwargs: Any) -> Path:
    """``training.train.train`` (imported lazily: torch only when a model is trained)."""
    from training.train import train

    return train(*args, **kwargs)


def result_row(evaluation: dict[str, Any]) -> dict[str, Any]:
    res = evaluation["results"]
    return {
        "model": evaluation["model"],
        "roc_auc": res["macro"]["roc_auc"],
        "pr_auc": res["macro"]["pr_auc"],
        "accuracy": res["micro"]["accuracy"],
        "f1": res["macro"]["f1"],
        "f1_tuned": res["macro"]["f1_tuned"],
        "parameters": evaluation["parameters"],
        "input_samples": evaluation["input"]["samples"],
        "input_seconds": round(evaluation["input"]["seconds"], 4),
        "epochs": evaluation["training"]["epochs"],
        "best_epoch": evaluation["training"]["best_epoch"],
        "train_seconds": round(evaluation["training"]["train_seconds"], 1),
        "inference_clips_per_s": round(evaluation["inference"]["clips_per_s"], 2),
    }


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return out.getvalue()


def _md(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_reports(
    out_dir: Path, evaluations: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> dict:
    """results.{md,json,csv}, per-tag tables and PNG plots from the models' evaluations."""
    from training import plots
    from training.evaluate import format_table

    rows = sorted((result_row(e) for e in evaluations.values()), key=lambda r: -(r["roc_auc"] or 0))
    tags = next(iter(evaluations.values()))["results"]["tags"]
    per_tag: dict[str, list[dict[str, Any]]] = {}
    for metric in ("roc_auc", "pr_auc"):
        per_tag[metric] = [
            {"tag": t, **{m: e["results"]["per_tag"][t][metric] for m, e in evaluations.items()}}
            for t in tags
        ]
        columns = ["tag", *evaluations]
        atomic_write_text(out_dir / f"per_tag_{metric}.csv", _csv(per_tag[metric], columns))
        atomic_write_text(out_dir / f"per_tag_{metric}.md", _md(per_tag[metric], columns))

    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    test = next(iter(evaluations.values()))["dataset"]["splits"]["test"]
    n_test = max(test["clips"], 1)
    plots.per_tag_bars(
        {m: {t: e["results"]["per_tag"][t]["roc_auc"] for t in tags} for m, e in evaluations.items()},
        tags, "ROC-AUC", figures / "per_tag_roc_auc.png", chance={t: 0.5 for t in tags},
    )  # fmt: skip
    plots.per_tag_bars(
        {m: {t: e["results"]["per_tag"][t]["pr_auc"] for t in tags} for m, e in evaluations.items()},
        tags, "PR-AUC", figures / "per_tag_pr_auc.png",
        chance={t: p / n_test for t, p in zip(tags, test["positives"], strict=True)},
    )  # fmt: skip
    best = rows[0]["model"]
    preds = np.load(out_dir / "checkpoints" / best / "test_predictions.npz")
    plots.roc_pr_curves(
        preds["y_true"], preds["y_prob"], tags, best, figures / "curves_best_model.png"
    )
    plots.training_curves(
        {m: e["training"]["history"] for m, e in evaluations.items()},
        figures / "training_curves.png",
    )

    summary = {**meta, "best_model": best, "models": rows, "per_tag": per_tag}
    atomic_write_text(out_dir / "results.json", json.dumps(summary, indent=2))
    atomic_write_text(out_dir / "results.csv", _csv(rows, RESULT_COLUMNS))
    md = [
        "# Benchmark results",
        "",
        f"Profile `{meta['profile']}`, test split ({n_test} clips), per-tag thresholds tuned on "
        f"valid; every model trained under the same setup (`training.config`). Sorted by macro "
        f"ROC-AUC. Accuracy is binary accuracy over all (clip, tag) pairs: the all-negative "
        f"baseline reaches "
        f"{next(iter(evaluations.values()))['results']['baseline_all_negative']['accuracy']:.3f}.",
        "",
        _md(rows, RESULT_COLUMNS),
        "## ROC-AUC per tag",
        "",
        (out_dir / "per_tag_roc_auc.md").read_text(),
        "## PR-AUC per tag",
        "",
        (out_dir / "per_tag_pr_auc.md").read_text(),
        f"## Best model: {best}",
        "",
        format_table(evaluations[best]["results"]),
        "## Figures",
        "",
        "![ROC-AUC per tag](figures/per_tag_roc_auc.png)",
        "![PR-AUC per tag](figures/per_tag_pr_auc.png)",
        f"![ROC and PR curves of {best}](figures/curves_best_model.png)",
        "![Training curves](figures/training_curves.png)",
        "",
    ]
    atomic_write_text(out_dir / "results.md", "\n".join(md))
    return summary


def benchmark(
    mtat_root: str | Path,
    out_dir: str | Path,
    cache_dir: str | Path | None = None,
    models: Sequence[str] | None = None,
    quick: bool = False,
    workers: int = 2,
    synth_clips: int | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Prepare (if needed), train and evaluate ``models`` (default: all eight); write reports.

    ``overrides`` are applied to every model's profile config (e.g. ``{"epochs": 1}``).
    Returns the ``results.json`` content.
    """
    from tqdm import tqdm

    from training.models import MODELS

    t0 = time.perf_counter()
    mtat_root, out_dir = Path(mtat_root), Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir else out_dir / "cache"
    names = list(models) if models else list(MODELS)
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    profile_name = "quick" if quick else "full"
    configs = {m: profile(profile_name, m, **(overrides or {})) for m in names}
    out_dir.mkdir(parents=True, exist_ok=True)
    _ensure_data(mtat_root, cache_dir, quick, synth_clips, workers, progress)

    evaluations: dict[str, dict[str, Any]] = {}
    bar = tqdm(names, desc="benchmark", unit="model", disable=not progress)
    for name in bar:
        bar.set_postfix(model=name)
        evaluations[name] = run_model(configs[name], cache_dir, out_dir / "checkpoints", progress)
        r = evaluations[name]["results"]["macro"]
        log.info("%s: test macro ROC-AUC %s, PR-AUC %s", name, r["roc_auc"], r["pr_auc"])
    meta = {
        "profile": profile_name,
        "mtat_root": str(mtat_root.resolve()),
        "cache": str(cache_dir.resolve()),
        "config": configs[names[0]].to_dict() | {"model": None},
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    with cpu_threads(configs[names[0]].threads):
        meta["environment"] = environment()  # what the figures depend on besides the config
    atomic_write_text(
        out_dir / "environment.json", json.dumps(meta["environment"], indent=2) + "\n"
    )
    summary = write_reports(out_dir, evaluations, meta)
    print(_md(summary["models"], RESULT_COLUMNS))
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mtat-root", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--cache", type=Path, default=None, help="default: OUT/cache")
    parser.add_argument("--models", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick profile (CPU, minutes)")
    parser.add_argument("--workers", type=int, default=2, help="prepare/synth processes")
    parser.add_argument(
        "--synth-clips", type=int, default=None, help="with --quick: synthesize a missing MTAT"
    )
    parser.add_argument("--epochs", type=int, help="override the profile's epochs")
    parser.add_argument("--device", help="auto | cpu | cuda ...")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (0: one per core)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    given = (("epochs", args.epochs), ("device", args.device), ("threads", args.threads))
    overrides = {k: v for k, v in given if v is not None}
    try:
        benchmark(
            args.mtat_root,
            args.out,
            args.cache,
            models,
            quick=args.quick,
            workers=args.workers,
            synth_clips=args.synth_clips,
            progress=not args.no_progress,
            overrides=overrides,
        )
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    return 0
