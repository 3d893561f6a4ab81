"""Decisions in POST /predict (threshold_policy, threshold, labels), real HTTP through the app
with the shipped models (won_musicnn calibrated, cnn1d not), real decode, real onnxruntime."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.config import DEFAULT_MODEL, DEFAULT_MODELS_DIR, Settings
from app.main import create_app
from tagging.card import ModelCard
from tests.paths import BRAHMS_STRINGS, MTAT_CLIP

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODELS_DIR / DEFAULT_MODEL / "model.onnx").is_file(),
    reason="the default model is not in models/ (python -m training import-pretrained)",
)

STRINGS = BRAHMS_STRINGS.read_bytes()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(providers="cpu"))) as c:
        yield c


def predict(client: TestClient, query: str, data: bytes = STRINGS, status: int = 200) -> dict:
    r = client.post(f"/predict{query}", files={"file": ("clip.ogg", data)})
    assert r.status_code == status, r.text
    return r.json()


def check_consistent(body: dict) -> None:
    """Per-tag decisions agree with the thresholds and with labels."""
    for t in body["tags"]:
        if body["labels"] is None:
            assert t["present"] is None
            continue
        decided = t["threshold"] is not None and t["probability"] >= t["threshold"]
        assert t["present"] is decided
        assert (t["tag"] in body["labels"]) is decided


def test_default_policy_labels_real_music(client: TestClient) -> None:
    card = ModelCard.read(DEFAULT_MODELS_DIR / DEFAULT_MODEL / "card.json")
    f1 = card.calibration.thresholds["f1"]
    strings = predict(client, "")
    assert strings["decision"] == {
        "policy": "f1",
        "source": card.calibration.provenance["data"],
        "reason": None,
    }
    assert {"classical", "strings"} <= set(strings["labels"])
    assert all(t["threshold"] == pytest.approx(f1[t["tag"]]) for t in strings["tags"])
    check_consistent(strings)
    probs = {t["tag"]: t["probability"] for t in strings["tags"]}
    assert strings["labels"] == sorted(strings["labels"], key=lambda t: -probs[t])
    techno = predict(client, "?top_k=1", MTAT_CLIP.read_bytes())
    assert "techno" in techno["labels"] and len(techno["tags"]) == 1
    assert len(techno["labels"]) > 1  # labels cover every ranked tag, not only the top_k shown


def test_precision_policy_is_stricter(client: TestClient) -> None:
    f1 = predict(client, "")
    precision = predict(client, "?threshold_policy=precision")
    assert precision["decision"]["policy"] == "precision"
    assert precision["labels"] and set(precision["labels"]) <= set(f1["labels"])
    assert set(precision["labels"]) < set(f1["labels"])  # strings: precision threshold 0.613
    check_consistent(precision)


def test_policy_none_gives_probabilities_only(client: TestClient) -> None:
    body = predict(client, "?threshold_policy=none")
    assert body["labels"] is None and "labels" in body
    assert (
        body["decision"]["policy"] == "none" and "probabilities only" in body["decision"]["reason"]
    )
    assert all(t["threshold"] is None and t["present"] is None for t in body["tags"])


def test_uncalibrated_model_decides_only_with_a_threshold(client: TestClient) -> None:
    body = predict(client, "?model=cnn1d")
    assert body["labels"] is None
    assert "no calibrated thresholds" in body["decision"]["reason"]
    assert "give a threshold" in body["decision"]["reason"]
    low = min(t["probability"] for t in body["tags"])
    fixed = predict(client, f"?model=cnn1d&threshold={low}")
    assert fixed["decision"] == {"policy": "fixed", "source": "given threshold", "reason": None}
    assert set(fixed["labels"]) == {t["tag"] for t in body["tags"]}  # every tag reaches it
    assert all(t["threshold"] == low and t["present"] for t in fixed["tags"])
    none = predict(client, "?model=cnn1d&threshold=1")
    assert none["labels"] == [] and not any(t["present"] for t in none["tags"])


def test_all_tags_labels_come_from_the_fifty(client: TestClient) -> None:
    ten = predict(client, "")
    body = predict(client, "?all_tags=true")
    assert body["tag_set"]["ranked"] == 50 and len(body["tags"]) == 50
    tags = {t["tag"] for t in body["tags"]}
    assert set(body["labels"]) <= tags and set(ten["labels"]) <= set(body["labels"])
    assert set(body["labels"]) - set(ten["labels"])  # e.g. violin, beyond the project's ten
    check_consistent(body)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?threshold=1.5", "query.threshold: Input should be less than or equal to 1"),
        ("?threshold=-0.1", "query.threshold: Input should be greater than or equal to 0"),
        ("?threshold=nan", "query.threshold: Input should be a finite number"),
        ("?threshold=high", "query.threshold: Input should be a valid number"),
        ("?threshold_policy=recall", "query.threshold_policy: Input should be 'f1', 'precision'"),
    ],
)
def test_bad_decision_options_are_422(client: TestClient, query: str, message: str) -> None:
    body = predict(client, query, status=422)
    assert message in body["detail"]


def test_openapi_documents_the_decision(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/predict"]["post"]["parameters"]}
    assert "precision" in params["threshold_policy"]["description"]
    assert "overriding" in params["threshold"]["description"]
    schemas = spec["components"]["schemas"]
    assert (
        "null when nothing is decided"
        in schemas["PredictResponse"]["properties"]["labels"]["description"]
    )
    assert {"threshold", "present"} <= set(schemas["TagProbability"]["properties"])
