"""The plugin's pure parts: field names and the tags typed as numbers."""

from __future__ import annotations

import pytest

from tagging.card import ModelCard
from tests.paths import REPO

pytest.importorskip("beets")

from beetsplug.mtattag import field_name, known_tags  # noqa: E402

CARD = ModelCard.read(REPO / "models" / "won_musicnn" / "card.json")


def test_field_names() -> None:
    assert field_name("classical") == "mtat_classical"
    assert field_name("no vocals") == "mtat_no_vocals"
    assert field_name("Male Voice") == "mtat_male_voice"


def test_known_tags_cover_the_cards() -> None:
    tags = known_tags(REPO / "models")
    assert set(CARD.tags) <= set(tags)
    assert len(tags) == len(set(tags))
