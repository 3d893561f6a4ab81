"""The model card schema (tagging.card): every committed card, the migration, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tagging.card import CARD_VERSION, ModelCard, migrate, rule_dict
from tagging.clips import ClipRule
from tagging.evaluations import legacy_entry
from tests.paths import REPO

MODELS = sorted(p.parent.name for p in (REPO / "models").glob("*/card.json"))


def test_the_models_folder_has_cards() -> None:
    assert len(MODELS) >= 12 and {"won_musicnn", "cnn1d"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_committed_card_is_current_and_round_trips(name: str) -> None:
    path = REPO / "models" / name / "card.json"
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    assert raw["card_version"] == CARD_VERSION, "rewrite it through ModelCard (the migration)"
    card = ModelCard.read(path)
    assert card.dump() == raw  # nothing lost, nothing added
    assert card.to_json() == text  # written by ModelCard.write
    assert ModelCard.model_validate(card.dump()).dump() == raw
    assert card.clip_rule.chunk_samples == card.chunk_samples
    assert card.headline_roc_auc() is not None  # every shipped model is ranked


def legacy_eight(**extra: object) -> dict:
    """An unversioned card as the exporter wrote it before card_version existed."""
    block = {
        "split": "test",
        "thresholds_from": "valid",
        "results": {"n_clips": 5, "per_tag": {"rock": {"roc_auc": 0.7}}, "macro": {"roc_auc": 0.7}},
    }
    return {
        "name": "old",
        "model_config": {"width": 0.5},
        "tags": ["rock"],
        "sample_rate": 16_000,
        "chunk_samples": 32_000,
        "eval_chunks": 16,
        "trained_on": "synthetic",
        "evaluation": block,
        "a_field_this_schema_does_not_know": [1, 2],
        **extra,
    }


def test_unversioned_card_is_migrated() -> None:
    raw = legacy_eight()
    card = ModelCard.model_validate(raw)
    assert card.card_version == CARD_VERSION
    assert card.clip_rule == ClipRule.evenly_spaced(32_000, 16)
    assert card.evaluations == [legacy_entry(raw["evaluation"], "synthetic")]
    assert card.headline_roc_auc() == 0.7
    out = card.dump()
    assert "eval_chunks" not in out and out["clip_rule"] == rule_dict(card.clip_rule)
    assert out["evaluation"] == raw["evaluation"]  # kept as written
    assert out["a_field_this_schema_does_not_know"] == [1, 2]  # extra fields survive
    assert out["model_config"] == {"width": 0.5}  # the card's name, not the attribute's
    assert ModelCard.model_validate(out).dump() == out  # version 1 is read as is
    assert migrate(out) == out


def test_unversioned_card_without_eval_chunks_gets_sixteen_and_a_port_keeps_its_rule() -> None:
    assert ModelCard.model_validate(legacy_eight(eval_chunks=None)).clip_rule.n_chunks == 16
    assert ModelCard.model_validate(legacy_eight(eval_chunks=4)).clip_rule.n_chunks == 4
    won = {"chunk_samples": 32_000, "hop_samples": None, "n_chunks": 16}
    entries = [{"id": "mtat_test", "macro": {"roc_auc": 0.9}}]
    port = ModelCard.model_validate(
        legacy_eight(clip_rule=won, evaluation=None, evaluations=entries)
    )
    assert port.clip_rule == ClipRule(32_000, n_chunks=16)  # Won's rule, tiled short clips
    assert port.evaluations == entries and port.headline_roc_auc() == 0.9


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"chunk_samples": 32_000}, "set exactly one of hop_samples and n_chunks"),
        ({"chunk_samples": 32_000, "n_chunks": 16, "hop": 3}, "hop"),
        ({"chunk_samples": 32_000, "n_chunks": 0}, "must be positive"),
        ({"chunk_samples": 32_000, "n_chunks": 4, "spacing": "random"}, "'floor' or 'even'"),
        ({"chunk_samples": 32_000, "hop_samples": 8, "spacing": "even"}, "spacing 'even'"),
        ({"chunk_samples": 16_000, "n_chunks": 16}, "clip_rule cuts chunks of 16000 samples"),
    ],
)
def test_card_with_a_bad_clip_rule_is_refused(rule: dict, message: str) -> None:
    with pytest.raises(ValidationError, match="clip_rule") as err:
        ModelCard.model_validate(legacy_eight(clip_rule=rule))
    assert message in str(err.value)


def test_newer_or_odd_versions_are_refused() -> None:
    for version in (2, -1, "1", True):
        with pytest.raises(ValidationError, match="card_version"):
            ModelCard.model_validate({**legacy_eight(), "card_version": version})


def test_a_card_is_written_atomically_with_numpy_figures(tmp_path: Path) -> None:
    card = ModelCard.model_validate(legacy_eight())
    entry = {"id": "x", "macro": {"roc_auc": np.float64(0.8)}, "n_clips": np.int64(3)}
    card = card.model_copy(update={"evaluations": [*card.evaluations, entry]})
    card.write(tmp_path / "card.json")
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]  # no temporary file left
    back = ModelCard.read(tmp_path / "card.json")
    assert back.evaluations[-1] == {"id": "x", "macro": {"roc_auc": 0.8}, "n_clips": 3}
    assert back.dump() == card.dump()


def test_version_is_the_code_version_else_the_weights_digest() -> None:
    base = ModelCard.read(REPO / "models" / "won_musicnn" / "card.json").dump()
    assert base["code_version"] and ModelCard.model_validate(base).version == base["code_version"]
    digest = "0a7ac8aa3daa" + "f" * 52
    no_code = {**base, "code_version": None, "weights_sha256": digest}
    assert ModelCard.model_validate(no_code).version == "0a7ac8aa3daa"
    bare = {**no_code, "weights_sha256": None}
    assert ModelCard.model_validate(bare).version == "unknown"


@pytest.mark.parametrize("name", MODELS)
def test_committed_cards_name_their_embedding(name: str) -> None:
    card = ModelCard.read(REPO / "models" / name / "card.json")
    assert card.embedding is not None and card.embedding.output == "embedding"
    assert card.embedding.size > 0 and card.embedding.tensor in card.embedding.layer


def test_embedding_field_is_optional_and_validated() -> None:
    card = ModelCard.model_validate(legacy_eight())
    assert card.embedding is None and "embedding" not in card.dump()
    block = {"output": "embedding", "layer": "input of the classifier", "size": 64}
    with_emb = ModelCard.model_validate({**legacy_eight(), "embedding": block})
    assert with_emb.embedding is not None and with_emb.embedding.size == 64
    assert with_emb.dump()["embedding"] == block  # round trip: nothing added
    with pytest.raises(ValidationError, match="greater than 0"):
        ModelCard.model_validate({**legacy_eight(), "embedding": {**block, "size": 0}})
    with pytest.raises(ValidationError, match="layer"):
        ModelCard.model_validate({**legacy_eight(), "embedding": {"size": 3}})
