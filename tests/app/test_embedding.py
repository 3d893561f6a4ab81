"""Embeddings in the service: the registry checks the card's output, the run returns
probabilities and embeddings through the batcher, the tagger averages them over the clip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app.config import Settings
from app.errors import ModelLoadError
from app.registry import ModelRegistry
from app.tagger import Tagger
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, tone, write_model


def _direct(path: Path, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and embeddings of ``chunks`` by a plain onnxruntime session."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probs, emb = session.run(["probabilities", "embedding"], {"waveform": chunks})
    return probs, emb


def test_loaded_models_know_their_embedding_size(models_dir: Path) -> None:
    registry = ModelRegistry(Settings(models_dir=models_dir, providers="cpu"))
    alpha, gamma = registry.get("alpha"), registry.get("gamma")
    assert alpha.embedding_size == 3 and alpha.n_outputs == 13
    assert gamma.embedding_size is None and gamma.n_outputs == 10
    rows = alpha.run(np.zeros((4, alpha.chunk_samples), np.float32))
    probs, emb = alpha.split(rows)
    assert rows.shape == (4, 13) and probs.shape == (4, 10) and emb is not None
    assert emb.shape == (4, 3) and emb.dtype == np.float32
    assert gamma.split(gamma.run(np.zeros((2, gamma.chunk_samples), np.float32)))[1] is None


@pytest.mark.anyio
@pytest.mark.parametrize("segments", [False, True])
async def test_tag_result_embedding_is_the_mean_over_the_clip_chunks(
    models_dir: Path, segments: bool
) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", chunk_hop_s=0.5)
    registry = ModelRegistry(settings)
    tagger = Tagger(settings, registry)
    model = registry.get("alpha")
    data = audio_bytes(tone(7.0, seed=4), SAMPLE_RATE, "WAV", "PCM_16")
    try:
        result = await tagger.tag(data, model, segments=segments)
        chunks, plan, _ = tagger.prepare(data, model, segments)
    finally:
        tagger.close()
    n_clip = len(plan.clip_starts)
    probs, emb = _direct(models_dir / "alpha" / "model.onnx", chunks.rows(0, n_clip))
    assert result.embedding is not None and result.embedding.shape == (3,)
    assert result.embedding.dtype == np.float32
    np.testing.assert_allclose(result.embedding, emb.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(result.probabilities, probs.mean(axis=0), rtol=1e-6)
    assert (result.segments is not None) == segments
    # The chunk rows the clip embedding averages, in time order, segments left out.
    assert result.chunk_embeddings is not None and result.chunk_embeddings.shape == (n_clip, 3)
    assert result.chunk_embeddings.dtype == np.float32
    np.testing.assert_allclose(result.chunk_embeddings, emb, rtol=1e-5, atol=1e-7)
    # Chunks differ, so the clip's mean is not any one chunk's embedding.
    assert not np.allclose(emb[0], emb[-1])


@pytest.mark.anyio
async def test_a_model_without_embedding_tags_with_none(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu")
    registry = ModelRegistry(settings)
    tagger = Tagger(settings, registry)
    try:
        result = await tagger.tag(
            audio_bytes(tone(3.0), SAMPLE_RATE, "WAV", "PCM_16"), registry.get("gamma")
        )
    finally:
        tagger.close()
    assert result.embedding is None and result.chunk_embeddings is None
    assert result.probabilities.shape == (10,)


@pytest.mark.parametrize(
    ("embedding", "message"),
    [
        ({"output": "features", "layer": "x", "size": 3}, "card names embedding output"),
        ({"output": "embedding", "layer": "x", "size": 7}, "its card says (batch, 7)"),
    ],
)
def test_a_card_naming_a_missing_or_wrong_embedding_is_refused(
    tmp_path: Path, embedding: dict, message: str
) -> None:
    folder = write_model(tmp_path, "odd", 16_000, None, embedding=True)
    card = json.loads((folder / "card.json").read_text())
    card["embedding"] = embedding
    (folder / "card.json").write_text(json.dumps(card))
    registry = ModelRegistry(Settings(models_dir=tmp_path, providers="cpu"))
    assert message in (registry.validate("odd") or "")
    with pytest.raises(ModelLoadError, match="embedding"):
        registry.get("odd")


def test_a_card_naming_an_embedding_its_graph_lacks_is_refused(tmp_path: Path) -> None:
    with_emb = write_model(tmp_path / "a", "m", 16_000, None, embedding=True)
    plain = write_model(tmp_path / "b", "m", 16_000, None)
    shutil.copyfile(with_emb / "card.json", plain / "card.json")  # card says embedding, graph not
    registry = ModelRegistry(Settings(models_dir=tmp_path / "b", providers="cpu"))
    assert "card names embedding output 'embedding'" in (registry.validate("m") or "")
