"""``POST /predict?embedding=true`` over real HTTP (the live server of conftest.py): the clip's
embedding equals a direct onnxruntime computation, is off by default, and is refused (422) for a
model without one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tagging.audio import chunk_starts, decode, take_chunks
from tests.paths import MTAT_CLIP


@pytest.fixture(scope="module")
def url(live_server: tuple[str, Path]) -> str:
    return live_server[0]


def post(url: str, query: str, path: Path = MTAT_CLIP) -> httpx.Response:
    with httpx.Client(timeout=60) as client:
        return client.post(
            f"{url}/predict?{query}", files={"file": (path.name, path.read_bytes(), "audio/mpeg")}
        )


def direct_embedding(models_dir: Path, name: str, source: Path) -> np.ndarray:
    """The clip embedding computed directly: 16 evenly spaced chunks, one ORT run, mean."""
    card = json.loads((models_dir / name / "card.json").read_text())
    length = card["chunk_samples"]
    session = ort.InferenceSession(
        str(models_dir / name / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    x = decode(source, target_sr=card["sample_rate"])
    chunks = take_chunks(x, chunk_starts(len(x), length, 16), length)
    return session.run(["embedding"], {"waveform": chunks})[0].mean(axis=0)


def test_embedding_true_returns_the_clips_mean_embedding(url: str, models_dir: Path) -> None:
    r = post(url, "model=alpha&embedding=true")
    assert r.status_code == 200, r.text
    body = r.json()
    card = json.loads((models_dir / "alpha" / "card.json").read_text())
    assert body["embedding_size"] == card["embedding"]["size"] == len(body["embedding"]) == 3
    assert body["embedding_layer"] == card["embedding"]["layer"]
    want = direct_embedding(models_dir, "alpha", MTAT_CLIP)
    np.testing.assert_allclose(body["embedding"], want, rtol=1e-5, atol=1e-7)


def test_embedding_is_off_by_default(url: str) -> None:
    body = post(url, "model=alpha").json()
    assert not {"embedding", "embedding_layer", "embedding_size"} & set(body)
    assert "embedding" not in post(url, "model=alpha&embedding=false").json()


def test_segments_do_not_change_the_clip_embedding(url: str) -> None:
    plain = post(url, "model=beta&embedding=true").json()
    with_segments = post(url, "model=beta&embedding=true&segments=true").json()
    assert len(with_segments["segments"]) > 1
    assert "embedding" not in with_segments["segments"][0]
    np.testing.assert_allclose(with_segments["embedding"], plain["embedding"], rtol=1e-6)


def test_a_model_without_embedding_is_a_422_that_says_why(url: str) -> None:
    r = post(url, "model=gamma&embedding=true")
    assert r.status_code == 422, r.text
    body = r.json()
    assert "query.embedding" in body["detail"] and "'gamma' has no embedding" in body["detail"]
    assert body["errors"][0]["loc"] == ["query", "embedding"]
    assert post(url, "model=gamma").status_code == 200  # tags as before without it


def test_openapi_documents_the_option_and_its_fields(models_dir: Path) -> None:
    with TestClient(create_app(Settings(models_dir=models_dir, providers="cpu"))) as client:
        spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/predict"]["post"]["parameters"]}
    assert params["embedding"]["schema"]["default"] is False
    assert "penultimate" in params["embedding"]["description"]
    schema = spec["components"]["schemas"]["PredictResponse"]
    assert {"embedding", "embedding_layer", "embedding_size"} <= set(schema["properties"])
    example = schema["examples"][0]
    assert len(example["embedding"]) == example["embedding_size"]
