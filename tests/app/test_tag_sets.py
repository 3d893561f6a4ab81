"""50-tag models in the service: the project's ten by default, all_tags, and per-model clip rules
(whole chunks every hop, repeat padding), checked against onnxruntime run by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tagging.audio import decode
from tagging.constants import SAMPLE_RATE, TOP10_TAGS
from tests.app.support import TAGS50, audio_bytes, tone, write_model


@pytest.fixture(scope="module")
def fifty_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fifty")
    write_model(root, "ten", 8_000, 0.7, seed=1)
    write_model(root, "won_like", 8_000, 0.8, seed=2, tags=TAGS50)  # 16 evenly spaced chunks
    for name, length, seed in (("hop", 8_000, 3), ("long", 24_000, 4)):
        rule = {"chunk_samples": length, "hop_samples": length, "n_chunks": None}
        write_model(root, name, length, 0.6, seed=seed, tags=TAGS50, clip_rule=rule, pad="repeat")
    won = {"chunk_samples": 8_000, "hop_samples": None, "n_chunks": 16}
    write_model(root, "won_rule", 8_000, 0.5, seed=5, tags=TAGS50, clip_rule=won)
    return root


@pytest.fixture(scope="module")
def client(fifty_dir: Path):
    settings = Settings(models_dir=fifty_dir, providers="cpu", default_model="won_like")
    with TestClient(create_app(settings)) as c:
        yield c


def run_onnx(folder: Path, chunks: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(["probabilities"], {"waveform": chunks.astype(np.float32)})[0].mean(axis=0)


def post(client: TestClient, data: bytes, query: str = "") -> dict:
    r = client.post(f"/predict{query}", files={"file": ("a.wav", data, "audio/wav")})
    assert r.status_code == 200, r.text
    return r.json()


WAV = audio_bytes(tone(2.6, seed=7), SAMPLE_RATE, "WAV", "PCM_16")


def test_fifty_tag_model_answers_the_ten_by_default(client: TestClient) -> None:
    body = post(client, WAV)
    assert body["model"] == "won_like"
    assert sorted(t["tag"] for t in body["tags"]) == sorted(TOP10_TAGS)
    assert body["tag_set"] == {"all_tags": False, "model_tags": 50, "ranked": 10}
    assert body["n_chunks"] == 16


def test_all_tags_ranks_all_fifty(client: TestClient, fifty_dir: Path) -> None:
    body = post(client, WAV, "?all_tags=true&segments=true")
    assert [t["tag"] for t in body["tags"]] != [] and len(body["tags"]) == 50
    assert sorted(t["tag"] for t in body["tags"]) == sorted(TAGS50)
    assert body["tag_set"]["ranked"] == 50 and "note" not in body["tag_set"]
    assert all(len(s["probabilities"]) == 50 for s in body["segments"])
    x = decode(WAV)
    starts = np.round(np.linspace(0, len(x) - 8_000, 16)).astype(int)
    expected = run_onnx(fifty_dir / "won_like", np.stack([x[s : s + 8_000] for s in starts]))
    got = {t["tag"]: t["probability"] for t in body["tags"]}
    np.testing.assert_allclose([got[t] for t in TAGS50], expected, atol=1e-5)
    # The default answer is the same ten numbers, only fewer of them.
    ten = {t["tag"]: t["probability"] for t in post(client, WAV)["tags"]}
    assert all(abs(ten[t] - got[t]) < 1e-6 for t in TOP10_TAGS)


def test_all_tags_on_a_ten_tag_model_says_it_has_only_ten(client: TestClient) -> None:
    body = post(client, WAV, "?model=ten&all_tags=true")
    assert len(body["tags"]) == 10
    assert body["tag_set"]["model_tags"] == 10 and "only 10 tags" in body["tag_set"]["note"]


def test_top_k_past_the_ten_needs_all_tags(client: TestClient) -> None:
    r = client.post("/predict?top_k=11", files={"file": ("a.wav", WAV, "audio/wav")})
    assert r.status_code == 422 and "all_tags=true" in r.json()["detail"]
    assert len(post(client, WAV, "?top_k=11&all_tags=true")["tags"]) == 11


def test_hop_rule_averages_whole_chunks_from_the_start(client: TestClient, fifty_dir: Path) -> None:
    body = post(client, WAV, "?model=hop&all_tags=true")
    x = decode(WAV)  # 2.6 s = 41,600 samples: five whole 8,000-sample chunks, the tail dropped
    assert body["n_chunks"] == 5
    expected = run_onnx(fifty_dir / "hop", x[:40_000].reshape(5, 8_000))
    got = {t["tag"]: t["probability"] for t in body["tags"]}
    np.testing.assert_allclose([got[t] for t in TAGS50], expected, atol=1e-5)


def test_short_clip_is_repeat_padded(client: TestClient, fifty_dir: Path) -> None:
    data = audio_bytes(tone(1.2, seed=8), SAMPLE_RATE, "WAV", "PCM_16")
    body = post(client, data, "?model=long&all_tags=true")
    x = decode(data)  # 19,200 samples, shorter than one 24,000-sample chunk: x twice, cut
    assert body["n_chunks"] == 1
    expected = run_onnx(fifty_dir / "long", np.concatenate([x, x])[None, :24_000])
    got = {t["tag"]: t["probability"] for t in body["tags"]}
    np.testing.assert_allclose([got[t] for t in TAGS50], expected, atol=1e-5)


def test_won_rule_starts_every_floor_hop(client: TestClient, fifty_dir: Path) -> None:
    body = post(client, WAV, "?model=won_rule&all_tags=true")
    x = decode(WAV)  # Won et al.'s eval.py: chunk i starts at i * ((n - L) // 16)
    hop = (len(x) - 8_000) // 16
    expected = run_onnx(fifty_dir / "won_rule", np.stack([x[i * hop :][:8_000] for i in range(16)]))
    got = {t["tag"]: t["probability"] for t in body["tags"]}
    np.testing.assert_allclose([got[t] for t in TAGS50], expected, atol=1e-5)


def test_card_with_a_bad_clip_rule_is_listed_as_invalid(tmp_path: Path) -> None:
    write_model(tmp_path, "ok", 8_000, 0.7)
    write_model(tmp_path, "bad", 8_000, 0.9, clip_rule={"chunk_samples": 8_000})
    with TestClient(create_app(Settings(models_dir=tmp_path, providers="cpu"))) as c:
        body = c.get("/models").json()
    assert body["default_model"] == "ok"  # the built-in default is absent: best macro ROC-AUC
    assert "bad" in body["invalid"] and "clip_rule" in body["invalid"]["bad"]
