"""The one evaluation of the project: every metric any table, plot or model card shows.

``evaluate(y_true, y_prob, tags, thresholds)`` returns a JSON-ready dict (schema in
docs/ARCHITECTURE.md "Evaluation"): per tag precision / recall / F1 / accuracy at 0.5 and at a
per-tag threshold tuned on the validation split (max F1), ROC-AUC, PR-AUC (average precision) and
the number of positives; macro and micro averages; and the all-negative baseline, whose accuracy
shows why binary accuracy alone misleads on sparse tags (Choi et al. 2017, "The effects of noisy
labels on deep convolutional neural networks for music tagging"). Tags without positives (or
without negatives) get ``None`` for the metrics that are undefined for them, never a crash.

Clip-level predictions follow Won et al. 2020 ("Evaluation of CNN-based automatic music tagging
models", SMC): the probability of a clip is the mean of the sigmoid outputs over evenly spaced
chunks (16 by default).

CLI: ``python -m training evaluate --checkpoint PATH --cache DIR [--split test] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from training.checkpoints import load_checkpoint_model

log = logging.getLogger(__name__)

TAG_METRICS: tuple[str, ...] = (
    "roc_auc",
    "pr_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "threshold",
    "precision_tuned",
    "recall_tuned",
    "f1_tuned",
    "accuracy_tuned",
)
"""Per-tag metric keys (besides ``positives``); ``macro`` averages each over the tags that define it."""

DEFAULT_THRESHOLD = 0.5


# --------------------------------------------------------------------------------------------
# metrics (numpy / scikit-learn only: importable without torch)
# --------------------------------------------------------------------------------------------


def _check_arrays(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_prob.shape:
        raise ValueError(
            f"y_true and y_prob must both be (n_clips, n_tags); got {y_true.shape} and {y_prob.shape}"
        )
    if not np.all(np.isin(y_true, (0, 1))):
        raise ValueError("y_true must hold only 0 and 1")
    if not np.all(np.isfinite(y_prob)):
        raise ValueError("y_prob contains NaN or infinite values")
    return y_true.astype(np.int64), y_prob


def _binary_counts(t: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    """Accuracy, precision, recall, F1 of binary predictions ``p`` against truth ``t``.

    Precision with no predicted positive is 0 when the tag has positives (scikit-learn's
    ``zero_division=0``: the model found none of them) and undefined (None) when it has none;
    recall and F1 are undefined without positives.
    """
    n = t.size
    tp = int(np.sum((p == 1) & (t == 1)))
    fp = int(np.sum((p == 1) & (t == 0)))
    fn = int(np.sum((p == 0) & (t == 1)))
    positives = tp + fn
    accuracy = float(np.mean(p == t)) if n else None
    if tp + fp > 0:
        precision: float | None = tp / (tp + fp)
    else:
        precision = 0.0 if positives > 0 else None
    recall = tp / positives if positives > 0 else None
    f1 = 2 * tp / (2 * tp + fp + fn) if positives > 0 else None
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


def tune_thresholds(y_true: np.ndarray, y_prob: np.ndarray) -> np.ndarray:
    """Per-tag decision thresholds that maximise F1 on the given (validation) predictions.

    A clip is positive for a tag when ``prob >= threshold``. Each threshold is the midpoint
    between the best-F1 score and the next lower score seen (so it generalises to unseen
    scores rather than sitting exactly on a validation score). Tags without positives keep 0.5.
    Returns ``(n_tags,)`` float64.
    """
    y_true, y_prob = _check_arrays(y_true, y_prob)
    thresholds = np.full(y_true.shape[1], DEFAULT_THRESHOLD, dtype=np.float64)
    for k in range(y_true.shape[1]):
        t, s = y_true[:, k], y_prob[:, k]
        if t.sum() == 0:
            continue
        precision, recall, cuts = precision_recall_curve(t, s)
        # precision/recall have len(cuts)+1 entries; the last one (recall 0) has no cut.
        p, r = precision[:-1], recall[:-1]
        f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        best = int(np.argmax(f1))
        cut = float(cuts[best])
        lower = s[s < cut]
        thresholds[k] = (cut + float(lower.max())) / 2 if lower.size else cut
    return thresholds


def _mean_defined(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def evaluate(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    tags: Sequence[str],
    thresholds: np.ndarray | Sequence[float] | None = None,
) -> dict[str, Any]:
    """Every metric of clip-level predictions; JSON-ready (see docs/ARCHITECTURE.md).

    ``y_true`` (N, K) of 0/1, ``y_prob`` (N, K) probabilities, ``tags`` the K tag names,
    ``thresholds`` (K,) per-tag thresholds (tuned on validation with :func:`tune_thresholds`;
    0.5 for every tag when None). ``precision/recall/f1/accuracy`` use 0.5, ``*_tuned`` the
    per-tag thresholds. ``macro`` averages each metric over the tags where it is defined;
    ``micro`` pools all (clip, tag) decisions; ``baseline_all_negative`` predicts no tag at all.
    """
    y_true, y_prob = _check_arrays(y_true, y_prob)
    n, k = y_true.shape
    tags = list(tags)
    if len(tags) != k:
        raise ValueError(f"{len(tags)} tag names for {k} prediction columns")
    if thresholds is None:
        thr = np.full(k, DEFAULT_THRESHOLD)
    else:
        thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        if thr.shape != (k,):
            raise ValueError(f"thresholds must have shape ({k},), got {thr.shape}")

    pred = (y_prob >= DEFAULT_THRESHOLD).astype(np.int64)
    pred_tuned = (y_prob >= thr[None, :]).astype(np.int64)
    per_tag: dict[str, dict[str, Any]] = {}
    for j, tag in enumerate(tags):
        t, s = y_true[:, j], y_prob[:, j]
        positives = int(t.sum())
        both_classes = 0 < positives < n
        row: dict[str, Any] = {
            "positives": positives,
            "roc_auc": float(roc_auc_score(t, s)) if both_classes else None,
            "pr_auc": float(average_precision_score(t, s)) if positives > 0 else None,
        }
        row.update(_binary_counts(t, pred[:, j]))
        row["threshold"] = float(thr[j])
        tuned = _binary_counts(t, pred_tuned[:, j])
        row.update({f"{name}_tuned": value for name, value in tuned.items()})
        per_tag[tag] = {key: row[key] for key in ("positives", *TAG_METRICS)}

    macro: dict[str, Any] = {m: _mean_defined([per_tag[t][m] for t in tags]) for m in TAG_METRICS}
    macro["tags_defined"] = sum(per_tag[t]["roc_auc"] is not None for t in tags)

    flat_t, flat_s = y_true.ravel(), y_prob.ravel()
    flat_both = 0 < int(flat_t.sum()) < flat_t.size
    micro: dict[str, Any] = {
        "roc_auc": float(roc_auc_score(flat_t, flat_s)) if flat_both else None,
        "pr_auc": float(average_precision_score(flat_t, flat_s)) if flat_t.sum() > 0 else None,
    }
    micro.update(_binary_counts(flat_t, pred.ravel()))
    micro.update(
        {f"{name}_tuned": v for name, v in _binary_counts(flat_t, pred_tuned.ravel()).items()}
    )
    baseline = _binary_counts(flat_t, np.zeros_like(flat_t))

    return {
        "n_clips": int(n),
        "tags": tags,
        "per_tag": per_tag,
        "macro": macro,
        "micro": micro,
        "baseline_all_negative": baseline,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def format_table(results: dict[str, Any]) -> str:
    """Markdown table of an :func:`evaluate` result (or of an ``evaluation.json`` content).

    One row per tag, then macro, micro and the all-negative baseline; undefined values show "—".
    """
    if "results" in results and "per_tag" not in results:
        results = results["results"]
    header = (
        "| tag | positives | ROC-AUC | PR-AUC | accuracy | precision | recall | F1 "
        "| threshold | F1 (tuned) | accuracy (tuned) |"
    )
    lines = [header, "|" + "---|" * 11]

    def row(name: str, m: dict[str, Any], positives: str) -> str:
        cells = [
            name,
            positives,
            _fmt(m.get("roc_auc")),
            _fmt(m.get("pr_auc")),
            _fmt(m.get("accuracy")),
            _fmt(m.get("precision")),
            _fmt(m.get("recall")),
            _fmt(m.get("f1")),
            _fmt(m.get("threshold"), 2),
            _fmt(m.get("f1_tuned")),
            _fmt(m.get("accuracy_tuned")),
        ]
        return "| " + " | ".join(cells) + " |"

    for tag in results["tags"]:
        m = results["per_tag"][tag]
        lines.append(row(tag, m, str(m["positives"])))
    total = sum(results["per_tag"][t]["positives"] for t in results["tags"])
    lines.append(row("**macro**", results["macro"], ""))
    lines.append(row("**micro**", results["micro"], str(total)))
    lines.append(row("*all-negative baseline*", results["baseline_all_negative"], ""))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# predictions (torch imported lazily so the metric functions stay torch-free)
# --------------------------------------------------------------------------------------------


def _collate_chunks(batch: list[tuple[Any, Any]]) -> tuple[Any, Any, Any]:
    """Stack clips whose chunk counts may differ: (sum chunks, L), (B, K), counts (B,)."""
    import torch

    chunks = [torch.as_tensor(c) for c, _ in batch]
    counts = torch.tensor([c.shape[0] for c in chunks], dtype=torch.long)
    labels = torch.stack([torch.as_tensor(y, dtype=torch.float32) for _, y in batch])
    return torch.cat(chunks, dim=0), labels, counts


def predict_chunks(
    model: Any,
    dataset: Any,
    device: Any,
    batch_size: int = 16,
    num_workers: int = 0,
    amp: bool = False,
    stats: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Clip-level predictions plus the mean chunk-level BCE loss (used as validation loss).

    ``dataset`` yields ``(chunks (C, L), labels (K,))`` (a ``ChunkedClipDataset``); ``batch_size``
    counts clips, so one forward pass sees ``batch_size * C`` chunks. Returns
    ``(y_true (N, K) float32, y_prob (N, K) float32, loss)``. When ``stats`` is given it receives
    ``seconds`` (wall time of the pass), ``clips``, ``chunks`` and ``clips_per_s``.
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    device = torch.device(device)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=_collate_chunks,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.eval()
    probs: list[np.ndarray] = []
    trues: list[np.ndarray] = []
    loss_sum, n_chunks = 0.0, 0
    start = time.perf_counter()
    with torch.inference_mode():
        for chunks, labels, counts in loader:
            chunks = chunks.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                logits = model(chunks)  # (sum C, K)
            logits = logits.float().cpu()
            chunk_labels = labels.repeat_interleave(counts, dim=0)  # (sum C, K)
            loss_sum += float(
                F.binary_cross_entropy_with_logits(logits, chunk_labels, reduction="sum")
            )
            n_chunks += int(logits.shape[0])
            # Mean of the sigmoid over each clip's chunks (Won et al. 2020).
            clip_ids = torch.repeat_interleave(torch.arange(len(counts)), counts)
            sums = torch.zeros(len(counts), logits.shape[1]).index_add_(
                0, clip_ids, torch.sigmoid(logits)
            )
            probs.append((sums / counts[:, None].float()).numpy())
            trues.append(labels.numpy())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    model.train(was_training)
    if not probs:
        raise ValueError("the evaluation dataset is empty")
    y_prob = np.concatenate(probs).astype(np.float32)
    y_true = np.concatenate(trues).astype(np.float32)
    k = y_true.shape[1]
    if stats is not None:
        stats.update(
            seconds=seconds,
            clips=float(len(y_true)),
            chunks=float(n_chunks),
            clips_per_s=len(y_true) / seconds if seconds > 0 else float("inf"),
        )
    return y_true, y_prob, loss_sum / max(n_chunks * k, 1)


def predict_clips(
    model: Any,
    dataset: Any,
    device: Any,
    batch_size: int = 16,
    num_workers: int = 0,
    amp: bool = False,
    stats: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true (N, K), y_prob (N, K))``: clip probability = mean sigmoid over its chunks."""
    y_true, y_prob, _ = predict_chunks(model, dataset, device, batch_size, num_workers, amp, stats)
    return y_true, y_prob


def dataset_summary(
    cache_dir: str | Path, splits: Sequence[str] = ("train", "valid", "test")
) -> dict:
    """A JSON-ready description of a prepared cache: tags, clips and positives per split."""
    from training.data.cache import ClipCache

    summary: dict[str, Any] = {"cache": str(Path(cache_dir).resolve()), "splits": {}}
    for split in splits:
        cache = ClipCache.open(cache_dir, split)
        summary["tags"] = list(cache.tags)
        summary["splits"][split] = {
            "clips": len(cache),
            "positives": [int(v) for v in np.asarray(cache.labels).sum(axis=0)],
        }
    return summary


def evaluate_model(
    model: Any,
    cache_dir: str | Path,
    chunk_samples: int,
    device: Any,
    split: str = "test",
    eval_chunks: int = 16,
    batch_size: int = 16,
    num_workers: int = 0,
    amp: bool = False,
    predictions_out: str | Path | None = None,
) -> dict[str, Any]:
    """``evaluation.json`` content for ``model`` on ``split``, thresholds tuned on ``valid``.

    Adds ``inference`` (clips/s of the pass over ``split``'s chunks) next to the contract's
    ``split``, ``thresholds_from``, ``dataset`` and ``results``. ``predictions_out`` (``.npz``)
    receives ``y_true``, ``y_prob``, ``thresholds`` and ``tags`` of ``split`` (for curves).
    """
    from training.data.cache import ClipCache
    from training.data.dataset import ChunkedClipDataset

    def predict(name: str, stats: dict | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        cache = ClipCache.open(cache_dir, name)
        ds = ChunkedClipDataset(cache, chunk_samples, n_chunks=eval_chunks)
        y_true, y_prob = predict_clips(model, ds, device, batch_size, num_workers, amp, stats)
        return y_true, y_prob, list(cache.tags)

    v_true, v_prob, tags = predict("valid")
    thresholds = tune_thresholds(v_true, v_prob)
    stats: dict[str, float] = {}
    y_true, y_prob, split_tags = predict(split, stats)
    if split_tags != tags:
        raise ValueError(f"valid and {split} caches disagree on tags: {tags} vs {split_tags}")
    if predictions_out is not None:
        np.savez_compressed(
            predictions_out,
            y_true=y_true,
            y_prob=y_prob,
            thresholds=thresholds,
            tags=np.array(tags),
        )
    return {
        "split": split,
        "thresholds_from": "valid",
        "dataset": dataset_summary(cache_dir),
        "eval_chunks": eval_chunks,
        "chunk_samples": chunk_samples,
        "inference": {**stats, "device": str(device)},
        "results": evaluate(y_true, y_prob, tags, thresholds),
    }


def resolve_device(name: str = "auto") -> Any:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt")
    parser.add_argument("--cache", required=True, type=Path, help="prepared cache directory")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--out", type=Path, default=None, help="write evaluation JSON here")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per forward pass")
    parser.add_argument("--eval-chunks", type=int, default=None, help="default: checkpoint's")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1 ...")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    model, ckpt = load_checkpoint_model(args.checkpoint, device)
    config = ckpt.get("config") or {}
    eval_chunks = args.eval_chunks or int(config.get("eval_chunks", 16))
    evaluation = evaluate_model(
        model,
        args.cache,
        int(ckpt["chunk_samples"]),
        device,
        split=args.split,
        eval_chunks=eval_chunks,
        batch_size=args.batch_size,
        num_workers=args.workers,
        amp=bool(config.get("amp", True)),
    )
    if evaluation["dataset"]["tags"] != list(ckpt["tags"]):
        raise SystemExit(
            f"the cache's tags {evaluation['dataset']['tags']} differ from the checkpoint's "
            f"{list(ckpt['tags'])}"
        )
    evaluation["checkpoint"] = str(Path(args.checkpoint).resolve())
    evaluation["model"] = ckpt["model_name"]
    print(f"{ckpt['model_name']} on {args.split} (thresholds tuned on valid)\n")
    print(format_table(evaluation["results"]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(evaluation, indent=2))
        log.info("wrote %s", args.out)
    return 0
