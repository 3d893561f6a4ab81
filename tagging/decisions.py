"""Decisions: which tags a clip *has*, from its probabilities and a threshold per tag.

A model card may carry a :class:`tagging.card.Calibration` (thresholds fitted on real-MTAT
predictions of that model by ``python -m training calibrate``). A caller picks a policy:

* ``f1`` / ``precision``: the card's thresholds of that policy (``precision``: the lowest
  threshold with precision >= the target; a tag without one is never decided present);
* ``none``: probabilities only, no decisions;
* an explicit ``threshold`` (0..1) for every tag, which needs no calibration.

A model without a calibration decides nothing unless given a threshold, and says why: thresholds
fitted on synthetic audio are never presented as real ones. One home for the service, the CLI,
the page (through the API) and batch jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tagging.card import ModelCard

POLICIES = ("f1", "precision", "none")
"""Values of ``threshold_policy`` (``--threshold-policy``)."""

DEFAULT_POLICY = "f1"


class InvalidDecisionError(ValueError):
    """A threshold outside 0..1 or an unknown policy."""


@dataclass(frozen=True)
class DecisionRule:
    """How a model's probabilities become decisions for one answer.

    ``thresholds`` (K,) in the model's tag order, NaN where a tag has no threshold under the
    policy; None when nothing is decided (``reason`` says why).
    """

    policy: str  # f1 | precision | none | fixed
    thresholds: np.ndarray | None
    reason: str | None = None
    source: str | None = None  # where the thresholds come from (the card's calibration data)

    def present(self, probs: np.ndarray) -> np.ndarray | None:
        """(K,) bools (a tag without a threshold is False), or None when nothing is decided."""
        if self.thresholds is None:
            return None
        defined = ~np.isnan(self.thresholds)
        return defined & (probs >= np.where(defined, self.thresholds, np.inf))

    def threshold_of(self, column: int) -> float | None:
        if self.thresholds is None or np.isnan(self.thresholds[column]):
            return None
        return float(self.thresholds[column])

    def labels(self, tags: Sequence[str], columns: Sequence[int], probs: np.ndarray) -> list[str]:
        """The decided tags among ``columns``, most probable first (empty if none)."""
        present = self.present(probs)
        if present is None:
            return []
        chosen = [c for c in columns if present[c]]
        return [tags[c] for c in sorted(chosen, key=lambda c: (-probs[c], c))]


def rule_for(
    card: ModelCard, policy: str | None = None, threshold: float | None = None
) -> DecisionRule:
    """The decision rule for ``card`` under ``policy`` (default: the card's default, else f1),
    or a fixed ``threshold`` for every tag (overrides the policy)."""
    k = len(card.tags)
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0 or np.isnan(threshold):
            raise InvalidDecisionError(f"threshold {threshold} is not within 0..1")
        return DecisionRule("fixed", np.full(k, float(threshold)), source="given threshold")
    cal = card.calibration
    policy = policy or (cal.policy_default if cal is not None else DEFAULT_POLICY)
    if policy not in POLICIES:
        raise InvalidDecisionError(
            f"unknown threshold policy {policy!r} (use one of {', '.join(POLICIES)})"
        )
    if policy == "none":
        return DecisionRule("none", None, reason="threshold_policy is none: probabilities only")
    if cal is None:
        return DecisionRule(
            policy,
            None,
            reason=f"model {card.name!r} has no calibrated thresholds (no real-MTAT predictions "
            "of it to fit them on); give a threshold to decide",
        )
    if policy not in cal.thresholds:
        return DecisionRule(
            policy,
            None,
            reason=f"model {card.name!r} has no {policy!r} thresholds "
            f"(it has {', '.join(sorted(cal.thresholds))})",
        )
    per_tag = cal.thresholds[policy]
    values = np.array([np.nan if per_tag.get(t) is None else float(per_tag[t]) for t in card.tags])
    return DecisionRule(policy, values, source=str(cal.provenance.get("data", "")) or None)
