"""POST /predict end to end: real uploads, real onnxruntime sessions, checked against a direct
onnxruntime computation of the same chunks (mean of evenly spaced chunk probabilities)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tagging.audio import chunk_starts, decode, hop_starts, take_chunks
from tagging.card import rule_dict
from tagging.clips import ClipRule
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, tone, write_model
from tests.paths import JAMENDO_44K_STEREO, MTAT_CLIP


@pytest.fixture(scope="module")
def client(models_dir: Path):
    # Two concurrent runs whatever the core count: a clip's chunks are split across both.
    settings = Settings(
        models_dir=models_dir,
        providers="cpu",
        max_batch=4,
        intra_op_threads=1,
        inference_threads=2,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def reference(models_dir: Path, name: str, source, n_chunks: int = 16) -> np.ndarray:
    """Clip probabilities computed directly: decode, evenly spaced chunks, one ORT run, mean."""
    card = json.loads((models_dir / name / "card.json").read_text())
    length = card["chunk_samples"]
    sess = ort.InferenceSession(
        str(models_dir / name / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    x = decode(source, target_sr=card["sample_rate"])
    chunks = take_chunks(x, chunk_starts(len(x), length, n_chunks), length)
    return sess.run(["probabilities"], {"waveform": chunks})[0].mean(axis=0)


def as_dict(tags: list[dict]) -> dict[str, float]:
    return {t["tag"]: t["probability"] for t in tags}


def test_real_mtat_clip_matches_direct_onnxruntime(client: TestClient, models_dir: Path) -> None:
    data = MTAT_CLIP.read_bytes()
    r = client.post("/predict", files={"file": (MTAT_CLIP.name, data, "audio/mpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "beta"  # best macro ROC-AUC in the cards
    assert body["provider"] == "CPUExecutionProvider"
    assert body["n_chunks"] == 16
    assert body["sample_rate"] == SAMPLE_RATE
    assert body["chunk_s"] == pytest.approx(1.5)
    assert body["duration_s"] == pytest.approx(29.0, abs=0.5)
    assert "segments" not in body
    assert set(body["timings"]) == {"decode_ms", "inference_ms", "total_ms"}
    assert body["timings"]["total_ms"] >= body["timings"]["inference_ms"] > 0
    probs = [t["probability"] for t in body["tags"]]
    assert len(probs) == 10 and probs == sorted(probs, reverse=True)
    expected = reference(models_dir, "beta", data)
    card_tags = json.loads((models_dir / "beta" / "card.json").read_text())["tags"]
    got = as_dict(body["tags"])
    np.testing.assert_allclose([got[t] for t in card_tags], expected, atol=1e-6, rtol=0)
    # Evenly spaced chunks over a real clip do not all look alike: the mean is not one chunk's.
    assert np.ptp(expected) > 0.05


def test_stereo_44k_mp3_is_mixed_and_resampled(client: TestClient, models_dir: Path) -> None:
    data = JAMENDO_44K_STEREO.read_bytes()
    info = sf.info(str(JAMENDO_44K_STEREO))
    assert info.samplerate == 44100 and info.channels == 2
    r = client.post("/predict?model=alpha&top_k=10", files={"file": ("j.mp3", data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "alpha"
    assert body["duration_s"] == pytest.approx(info.frames / info.samplerate, abs=0.1)
    expected = reference(models_dir, "alpha", data)
    got = as_dict(body["tags"])
    tags = json.loads((models_dir / "alpha" / "card.json").read_text())["tags"]
    np.testing.assert_allclose([got[t] for t in tags], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("fmt", "subtype", "sr", "channels"),
    [
        ("WAV", "PCM_16", 22050, 2),
        ("WAV", "FLOAT", 16000, 1),
        ("FLAC", "PCM_16", 48000, 1),
        ("OGG", "VORBIS", 44100, 2),
        ("MP3", None, 16000, 1),
    ],
)
def test_formats(client: TestClient, models_dir: Path, fmt, subtype, sr, channels) -> None:
    data = audio_bytes(tone(4.0, sr, channels), sr, fmt, subtype)
    r = client.post("/predict?model=alpha&top_k=4", files={"file": (f"x.{fmt.lower()}", data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["tags"]) == 4
    assert body["duration_s"] == pytest.approx(4.0, abs=0.1)
    expected = reference(models_dir, "alpha", data)
    got = as_dict(body["tags"])
    tags = json.loads((models_dir / "alpha" / "card.json").read_text())["tags"]
    top4 = [tags[i] for i in np.argsort(-expected, kind="stable")[:4]]
    assert list(got) == top4
    np.testing.assert_allclose([got[t] for t in top4], np.sort(expected)[::-1][:4], atol=1e-6)


def test_segments_follow_the_hop_grid(client: TestClient, models_dir: Path) -> None:
    x = tone(5.2)
    data = audio_bytes(x, SAMPLE_RATE, "WAV", "FLOAT")
    r = client.post("/predict?model=alpha&segments=true", files={"file": ("s.wav", data)})
    assert r.status_code == 200, r.text
    segs = r.json()["segments"]
    length = 16_000  # alpha's chunk; default hop = one chunk
    starts = hop_starts(len(x), length, length)
    assert [s["start_s"] for s in segs] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 4.2])
    assert list(starts / SAMPLE_RATE) == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 4.2])
    assert [s["end_s"] for s in segs] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 5.2])
    sess = ort.InferenceSession(str(models_dir / "alpha" / "model.onnx"))
    direct = sess.run(None, {"waveform": take_chunks(x, starts, length)})[0]
    tags = json.loads((models_dir / "alpha" / "card.json").read_text())["tags"]
    for seg, row in zip(segs, direct, strict=True):
        assert list(seg["probabilities"]) == tags
        np.testing.assert_allclose(list(seg["probabilities"].values()), row, atol=1e-6)


def test_segment_hop_setting_and_the_cards_chunk_count(tmp_path: Path) -> None:
    """The clip's chunk count comes from the card's clip rule (5 here), segments from the hop."""
    write_model(
        tmp_path,
        "five",
        16_000,
        0.8,
        seed=1,
        clip_rule=rule_dict(ClipRule.evenly_spaced(16_000, 5)),
    )
    settings = Settings(
        models_dir=tmp_path, providers="cpu", default_model="five", chunk_hop_s=0.5, max_batch=3
    )
    x = tone(3.0, seed=4)
    data = audio_bytes(x, SAMPLE_RATE, "FLAC", "PCM_24")
    with TestClient(create_app(settings)) as c:
        r = c.post("/predict?segments=true", files={"file": ("s.flac", data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "five" and body["n_chunks"] == 5
    assert [s["start_s"] for s in body["segments"]] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])
    expected = reference(tmp_path, "five", data, n_chunks=5)
    got = as_dict(body["tags"])
    np.testing.assert_allclose(
        [got[t] for t in body["segments"][0]["probabilities"]], expected, atol=1e-6
    )


def test_clip_shorter_than_a_chunk_is_padded(client: TestClient, models_dir: Path) -> None:
    x = tone(1.2, seed=7)  # beta takes 1.5 s chunks; 1.2 s >= the 1 s minimum
    data = audio_bytes(x, SAMPLE_RATE, "WAV", "FLOAT")
    r = client.post("/predict", files={"file": ("short.wav", data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_chunks"] == 1 and body["duration_s"] == pytest.approx(1.2)
    padded = np.pad(x, (0, 24_000 - len(x)))[None, :]
    sess = ort.InferenceSession(str(models_dir / "beta" / "model.onnx"))
    expected = sess.run(None, {"waveform": padded})[0][0]
    tags = json.loads((models_dir / "beta" / "card.json").read_text())["tags"]
    got = as_dict(body["tags"])
    np.testing.assert_allclose([got[t] for t in tags], expected, atol=1e-6)


def test_other_models_load_lazily_and_once(client: TestClient) -> None:
    before = {m["name"]: m["loaded"] for m in client.get("/models").json()["models"]}
    assert before["beta"] is True  # the default, loaded at start-up
    data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    r = client.post("/predict?model=gamma&top_k=1", files={"file": ("g.wav", data)})
    assert r.status_code == 200 and r.json()["model"] == "gamma" and len(r.json()["tags"]) == 1
    state = client.app.state.service
    session = state.registry.loaded()["gamma"].session
    r = client.post("/predict?model=gamma", files={"file": ("g.wav", data)})
    assert r.status_code == 200
    assert state.registry.loaded()["gamma"].session is session  # cached, not reloaded
    after = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert after["gamma"]["loaded"] and after["gamma"]["provider"] == "CPUExecutionProvider"


def test_top_k_defaults_to_all_tags_of_a_small_model(tmp_path: Path) -> None:
    tags = ("rock", "jazz", "piano", "vocal", "ambient")
    write_model(tmp_path, "five", 8_000, 0.7, seed=5, tags=tags)
    data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    with TestClient(create_app(Settings(models_dir=tmp_path, providers="cpu"))) as c:
        r = c.post("/predict", files={"file": ("a.wav", data)})
        assert r.status_code == 200 and sorted(as_dict(r.json()["tags"])) == sorted(tags)
        r = c.post("/predict?top_k=6", files={"file": ("a.wav", data)})
        assert r.status_code == 422 and "5 tags" in r.json()["detail"]


def test_long_recording_is_heard_whole_up_to_the_cap(client: TestClient, models_dir: Path) -> None:
    """4 minutes through beta (16 chunks of 1.5 s: a 24-s span): the clip probability averages
    TAGGER_MAX_CLIP_CHUNKS (128) chunks spread from the first sample to the last, heard_s is
    min(duration, 128 x 1.5 s); the 29-s MTAT clip, past the span but a clip, keeps its 16
    chunks (16 x 1.5 s heard, gaps between them)."""
    x = tone(240.0, seed=11)
    data = audio_bytes(x, SAMPLE_RATE, "FLAC", "PCM_16")
    r = client.post("/predict", files={"file": ("long.flac", data)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["n_chunks"] == Settings().max_clip_chunks == 128
    assert body["heard_s"] == pytest.approx(min(240.0, 128 * 1.5))
    expected = reference(models_dir, "beta", data, n_chunks=128)
    tags = json.loads((models_dir / "beta" / "card.json").read_text())["tags"]
    got = as_dict(body["tags"])
    np.testing.assert_allclose([got[t] for t in tags], expected, atol=1e-6)
    mtat = client.post("/predict", files={"file": (MTAT_CLIP.name, MTAT_CLIP.read_bytes())})
    assert mtat.json()["n_chunks"] == 16
    assert mtat.json()["heard_s"] == pytest.approx(16 * 1.5)


def test_max_clip_chunks_sets_the_cap(tmp_path: Path) -> None:
    """A cap of 40 hears 40 x 1.5 s of 2 minutes; 0 keeps the clip rule's 16 chunks (24 s)."""
    write_model(tmp_path, "beta", 24_000, 0.8)
    data = audio_bytes(tone(120.0, seed=12), SAMPLE_RATE, "FLAC", "PCM_16")
    for cap, n_chunks, heard in ((40, 40, 60.0), (0, 16, 24.0)):
        settings = Settings(models_dir=tmp_path, providers="cpu", max_clip_chunks=cap)
        with TestClient(create_app(settings)) as c:
            body = c.post("/predict", files={"file": ("long.flac", data)}).json()
        assert (body["n_chunks"], body["heard_s"]) == (n_chunks, pytest.approx(heard))
