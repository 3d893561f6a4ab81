"""The shipped int8 model (scripts/make_int8.py): the service loads it, and it agrees with its
fp32 model on the parity recordings as its card says (real sessions, real decoding)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from app.config import DEFAULT_MODELS_DIR, Settings
from app.registry import ModelRegistry
from tagging.audio import decode
from tests.paths import BRAHMS_STRINGS, DATA, MTAT_CLIP

NAME, FP32 = "won_musicnn_int8", "won_musicnn"
PARITY = {
    "brahms": BRAHMS_STRINGS,
    "vibe_ace": DATA / "real" / "Kevin_MacLeod_-_Vibe_Ace.ogg",
    "trumpet": DATA / "real" / "sorohanro_-_solo-trumpet-06.ogg",
    "mtat_joram": MTAT_CLIP,
}

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODELS_DIR / NAME / "model.onnx").is_file(),
    reason="no int8 model in models/ (python scripts/make_int8.py won_musicnn)",
)


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry(Settings(models_dir=DEFAULT_MODELS_DIR, providers="cpu"))


def test_the_card_says_where_it_comes_from_and_how_well_it_agrees(registry) -> None:
    card = registry.card(NAME)
    q = card.quantization
    assert q is not None and q["from"] == FP32 and registry.card(FP32).quantization is None
    assert q["agreement"]["same_top3_all"] and q["agreement"]["max_abs_dp"] <= 0.02
    assert set(q["agreement"]["recordings"]) == set(PARITY)
    assert card.tags == registry.card(FP32).tags and card.calibration is None
    assert registry.choose_default() != NAME


def test_it_agrees_with_its_fp32_model_on_every_parity_recording(registry) -> None:
    int8, fp32 = registry.get(NAME), registry.get(FP32)
    recorded = registry.card(NAME).quantization["agreement"]["recordings"]
    k = len(fp32.tags)
    for key, path in PARITY.items():
        chunks = fp32.clip_rule.chunks(decode(path))
        p = fp32.run(chunks)[:, :k].mean(axis=0)  # (K,) clip probabilities
        q = int8.run(chunks)[:, :k].mean(axis=0)
        assert list(np.argsort(-p)[:3]) == list(np.argsort(-q)[:3]), key
        dp = float(np.abs(p - q).max())
        assert dp <= 0.02 and abs(dp - recorded[key]["max_abs_dp"]) < 1e-3, (key, dp)


def test_models_says_whose_scores_it_shows(real_models_server: str) -> None:
    """GET /models: the int8 model's evaluations are its fp32 original's, and say so (the
    leaderboard prints it); the original's own need no such note."""
    models = {m["name"]: m for m in httpx.get(f"{real_models_server}/models").json()["models"]}
    assert models[NAME]["evaluations"]
    for ev in models[NAME]["evaluations"]:
        assert ev["measured_model"].startswith(f"{FP32} (fp32)")
    assert all(ev["measured_model"] is None for ev in models[FP32]["evaluations"])
