"""Evaluation entries measured by this project: :func:`training.evaluate.evaluate` into the card
schema of :mod:`tagging.evaluations`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tagging.constants import TOP10_TAGS
from tagging.evaluations import entry
from training.evaluate import evaluate


def measured(
    key: str,
    data: str,
    y_true: np.ndarray,
    y_prob: np.ndarray,
    tags: Sequence[str],
    thresholds: np.ndarray | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An entry measured by this project: :func:`evaluate` over ``tags`` (and over the project's
    ten among them for ``macro_project_tags``). ``extra`` adds fields (``split``, ``method``...)."""
    tags = list(tags)
    results = evaluate(y_true, y_prob, tags, thresholds)
    ten = [i for i, t in enumerate(tags) if t in TOP10_TAGS]
    project = results["macro"]
    if len(ten) != len(tags) and ten:
        sub = None if thresholds is None else np.asarray(thresholds)[ten]
        project = evaluate(y_true[:, ten], y_prob[:, ten], [tags[i] for i in ten], sub)["macro"]
    return entry(key, data, tags, results, project, **extra)
