"""The shipped default model tags real music: the service as started by `make serve`, no fixture models."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.config import DEFAULT_MODEL, DEFAULT_MODELS_DIR, Settings
from app.main import create_app
from tests.paths import BRAHMS_STRINGS, MTAT_CLIP

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODELS_DIR / DEFAULT_MODEL / "model.onnx").is_file(),
    reason="the default model is not in models/ (python -m training import-pretrained)",
)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(providers="cpu"))) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "expected"),
    [(BRAHMS_STRINGS, {"classical", "strings"}), (MTAT_CLIP, {"techno", "electronic"})],
)
def test_default_model_top3_on_real_music(client: TestClient, path, expected: set) -> None:
    r = client.post("/predict?top_k=3", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == DEFAULT_MODEL
    top3 = [t["tag"] for t in body["tags"]]
    assert expected & set(top3), top3


def test_models_lists_the_ports_with_evaluations_and_licences(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/models").json()["models"]}
    for name in ("won_musicnn", "won_fcn", "pons_musicnn", "pons_vgg"):
        m = models[name]
        assert m["trained_on"] == "mtat" and m["licence"] and m["attribution"] and m["source"]
        assert m["evaluations"] and m["evaluations"][0]["data"]
        assert (DEFAULT_MODELS_DIR / name / "LICENSE").is_file()
    assert models[DEFAULT_MODEL]["default"]
    head = models["won_musicnn"]["evaluations"][0]
    assert head["measured_by"] == "project" and head["n_clips"] == 4332
    assert abs(head["macro_project_tags"]["roc_auc"] - 0.921) < 0.001
    assert models["won_fcn"]["evaluations"][0]["measured_by"] == "source"
    assert {m["trained_on"] for n, m in models.items() if n.startswith("cnn")} == {"synthetic"}
