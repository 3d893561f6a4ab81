"""Benchmark figures (matplotlib, Agg backend: no display needed).

* per-tag grouped bars of ROC-AUC and PR-AUC for every model,
* ROC and PR curves per tag of the best model (test split),
* training curves: validation ROC-AUC and train/validation loss per epoch per model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402


def per_tag_bars(
    values: Mapping[str, Mapping[str, float | None]],
    tags: Sequence[str],
    metric_label: str,
    path: Path,
    chance: Mapping[str, float] | None = None,
) -> Path:
    """Grouped bars: one group per tag, one bar per model (``values[model][tag]``).

    ``chance`` (per tag) draws the chance level (0.5 for ROC-AUC, the positive rate for PR-AUC);
    undefined values (None) are left out.
    """
    models = list(values)
    x = np.arange(len(tags))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(tags) + 2), 4.5))
    for i, model in enumerate(models):
        heights = [values[model].get(t) for t in tags]
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            [np.nan if h is None else h for h in heights],
            width,
            label=model,
        )
    if chance is not None:
        for j, t in enumerate(tags):
            ax.hlines(chance[t], j - 0.45, j + 0.45, colors="k", linestyles=":", linewidth=1)
    ax.set_xticks(x, tags, rotation=30, ha="right")
    ax.set_ylabel(metric_label)
    ax.set_ylim(0, 1)
    ax.set_title(f"{metric_label} per tag (test split; dotted: chance)")
    ax.legend(fontsize=8, ncol=min(len(models), 4), loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roc_pr_curves(
    y_true: np.ndarray, y_prob: np.ndarray, tags: Sequence[str], model: str, path: Path
) -> Path:
    """ROC and PR curves per tag of one model (tags without positives are skipped)."""
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(12, 5))
    for j, tag in enumerate(tags):
        t, s = y_true[:, j], y_prob[:, j]
        if not 0 < t.sum() < len(t):
            continue
        fpr, tpr, _ = roc_curve(t, s)
        precision, recall, _ = precision_recall_curve(t, s)
        ax_roc.plot(fpr, tpr, label=tag, linewidth=1.2)
        ax_pr.plot(recall, precision, label=tag, linewidth=1.2)
    ax_roc.plot([0, 1], [0, 1], "k:", linewidth=1)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC ({model})")
    ax_pr.set(xlabel="recall", ylabel="precision", title=f"precision-recall ({model})")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right" if ax is ax_roc else "lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> Path:
    """Validation ROC-AUC (left) and train (solid) / validation (dashed) loss (right) per epoch."""
    fig, (ax_auc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, (model, rows) in enumerate(histories.items()):
        color = f"C{i % 10}"
        epochs = [int(r["epoch"]) for r in rows]

        def col(key: str, rows: Sequence[Mapping[str, Any]] = rows) -> list[float]:
            return [np.nan if r.get(key) in (None, "") else float(r[key]) for r in rows]

        ax_auc.plot(epochs, col("val_roc_auc"), marker="o", color=color, label=model)
        ax_loss.plot(epochs, col("train_loss"), color=color, label=f"{model} train")
        ax_loss.plot(epochs, col("val_loss"), color=color, linestyle="--")
    ax_auc.set(xlabel="epoch", ylabel="macro ROC-AUC", title="validation ROC-AUC")
    ax_loss.set(xlabel="epoch", ylabel="BCE loss", title="loss (solid: train, dashed: valid)")
    for ax in (ax_auc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
