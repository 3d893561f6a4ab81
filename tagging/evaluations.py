"""Model-card evaluations: what a model was measured on, by whom, with which figures (one schema).

A card's ``evaluations`` is a list, headline first. Each entry names its data, says whether this
project measured it (``measured_by: "project"``, figures from :func:`training.evaluate.evaluate`,
whose whole output is kept in ``results``; :func:`training.measure.measured` computes one) or took it from a named source (``"source"``, with
``source`` and ``citation``), and gives ``per_tag`` ROC-AUC / PR-AUC where they exist (``None``
where not), ``macro`` over the entry's tags and ``macro_project_tags`` over the project's ten.
Cards written before this list existed carry one ``evaluation`` block (an ``evaluation.json``):
:func:`card_evaluations` turns it into an entry. Torch- and scikit-learn-free: the service reads it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

PROJECT = "project"
SOURCE = "source"
SCORES = ("roc_auc", "pr_auc")


def _scores(values: Any) -> dict[str, float | None]:
    values = values if isinstance(values, Mapping) else {}
    return {k: (float(values[k]) if values.get(k) is not None else None) for k in SCORES}


def entry(
    key: str,
    data: str,
    tags: Sequence[str],
    results: Mapping[str, Any],
    project_macro: Mapping[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """An entry measured by this project from :func:`training.evaluate.evaluate`'s ``results``
    over ``tags``; ``project_macro`` is the macro over the project's ten among them."""
    tags = list(tags)
    return {
        "id": key,
        "data": data,
        **extra,
        "n_clips": results["n_clips"],
        "measured_by": PROJECT,
        "tags": tags,
        "per_tag": {t: _scores(results["per_tag"][t]) for t in tags},
        "macro": _scores(results["macro"]),
        "macro_project_tags": _scores(project_macro),
        "results": results,
    }


def from_source(
    key: str,
    data: str,
    source: str,
    citation: str,
    macro: Mapping[str, float | None],
    per_tag: Mapping[str, Mapping[str, float | None]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An entry taken from a named source: its figures as published, nothing recomputed."""
    per_tag = {t: _scores(v) for t, v in (per_tag or {}).items()}
    return {
        "id": key,
        "data": data,
        **extra,
        "measured_by": SOURCE,
        "source": source,
        "citation": citation,
        "tags": list(per_tag),
        "per_tag": per_tag,
        "macro": _scores(macro),
    }


def legacy_entry(block: Mapping[str, Any], trained_on: str | None) -> dict[str, Any]:
    """The entry of an exported ``evaluation`` block (the eight: test split of their own data)."""
    results = block.get("results", block)
    split = block.get("split", "test")
    dataset = "synthetic MTAT" if trained_on == "synthetic" else "MTAT"
    per_tag = results.get("per_tag") or {}
    thresholds = block.get("thresholds_from")
    return {
        "id": f"{'synthetic' if trained_on == 'synthetic' else 'mtat'}_{split}",
        "data": f"{dataset} {split} split ({results.get('n_clips')} clips)"
        + (f", thresholds tuned on {thresholds}" if thresholds else ""),
        "split": split,
        "n_clips": results.get("n_clips"),
        "measured_by": PROJECT,
        "tags": list(per_tag),
        "per_tag": {t: _scores(v) for t, v in per_tag.items()},
        "macro": _scores(results.get("macro")),
        "macro_project_tags": _scores(results.get("macro")),
        "results": results,
    }


def card_evaluations(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A card's evaluations: its ``evaluations`` list, else the entry of its ``evaluation``."""
    listed = card.get("evaluations")
    if isinstance(listed, list):
        return [e for e in listed if isinstance(e, dict)]
    block = card.get("evaluation")
    if isinstance(block, Mapping) and isinstance(block.get("results", block), Mapping):
        return [legacy_entry(block, card.get("trained_on"))]
    return []


def headline_score(entries: Sequence[Mapping[str, Any]], score: str = "roc_auc") -> float | None:
    """``macro[score]`` of the headline evaluation (the first entry), or None when there is no
    entry or the figure is missing or not finite."""
    if not entries:
        return None
    value = _scores(entries[0].get("macro")).get(score)
    return value if value is not None and math.isfinite(value) else None
