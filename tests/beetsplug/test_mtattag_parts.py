"""The plugin's pure parts: field names, the model version, and the client-side labels of the
HTTP fallback, which must equal the service's rule on the same probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from tagging.card import ModelCard
from tagging.decisions import rule_for
from tests.paths import REPO

pytest.importorskip("beets")

from beetsplug.mtattag import field_name, known_tags, labels_from, model_version  # noqa: E402

CARD = ModelCard.read(REPO / "models" / "won_musicnn" / "card.json")


def test_field_names() -> None:
    assert field_name("classical") == "mtat_classical"
    assert field_name("no vocals") == "mtat_no_vocals"
    assert field_name("Male Voice") == "mtat_male_voice"


def test_model_version_is_short_and_from_the_card() -> None:
    version = model_version(CARD)
    assert version and len(version) <= 40
    assert version in (CARD.code_version, (CARD.weights_sha256 or "")[:12])


def test_known_tags_cover_the_cards() -> None:
    tags = known_tags(REPO / "models")
    assert set(CARD.tags) <= set(tags)
    assert len(tags) == len(set(tags))


@pytest.mark.parametrize("policy,threshold", [("f1", None), ("precision", None), (None, 0.3)])
def test_fallback_labels_equal_the_rule(policy: str | None, threshold: float | None) -> None:
    rule = rule_for(CARD, policy, threshold)
    probs = np.random.default_rng(1).uniform(size=len(CARD.tags))
    columns = list(range(10))  # the ranked columns: the project's ten come first in the card
    returned = {CARD.tags[c]: float(probs[c]) for c in columns}
    expected = rule.labels(CARD.tags, columns, probs)
    assert labels_from(rule, CARD, returned) == expected
    assert set(expected) <= set(returned)


def test_fallback_labels_empty_without_decisions() -> None:
    rule = rule_for(CARD, "none")
    assert labels_from(rule, CARD, {"classical": 0.99}) == []
