"""training.checkpoints: a good checkpoint comes back as the same model; a bad one is refused by
name and reason, whichever command loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tagging.constants import TOP10_TAGS
from training.checkpoints import CheckpointError, load_checkpoint_model
from training.models import build_model

CHUNK = 16_000


def _checkpoint(model: torch.nn.Module, **changes: Any) -> dict[str, Any]:
    ckpt = {
        "model_name": "cnn1d",
        "model_config": {"width": 0.125},
        "tags": list(TOP10_TAGS),
        "sample_rate": 16_000,
        "chunk_samples": CHUNK,
        "state_dict": model.state_dict(),
    }
    return {**ckpt, **changes}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model("cnn1d", n_tags=len(TOP10_TAGS), width=0.125).train()
    with torch.no_grad():  # BatchNorm statistics off their defaults: loading them matters
        net(0.1 * torch.randn(4, CHUNK))
    return net.eval()


def test_a_checkpoint_comes_back_as_the_same_model(model: torch.nn.Module, tmp_path: Path) -> None:
    # DDP's "module." prefix on every key is dropped on the way in.
    wrapped = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save(_checkpoint(model, state_dict=wrapped), tmp_path / "best.pt")
    loaded, ckpt = load_checkpoint_model(tmp_path / "best.pt")
    assert ckpt["chunk_samples"] == CHUNK and not loaded.training
    x = 0.1 * torch.randn(2, CHUNK)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"state_dict": None}, CheckpointError, r"lacks \['state_dict'\]"),
        ({"sample_rate": 22_050}, CheckpointError, "sample_rate 22050, the models take 16000"),
        ({"model_config": {"width": 0.125, "n_tags": 3}}, CheckpointError, "n_tags 3 but 10 tags"),
        ({"model_name": "no_such_net"}, CheckpointError, "cannot rebuild 'no_such_net'"),
        ({"model_config": {"width": 0.25}}, CheckpointError, "cannot rebuild 'cnn1d'"),
    ],
)
def test_a_bad_checkpoint_is_refused_by_name_and_reason(
    model: torch.nn.Module, tmp_path: Path, changes: dict, error: type, message: str
) -> None:
    ckpt = _checkpoint(model, **changes)
    ckpt = {k: v for k, v in ckpt.items() if v is not None}
    path = tmp_path / "best.pt"
    torch.save(ckpt, path)
    with pytest.raises(error, match=message) as info:
        load_checkpoint_model(path)
    assert str(path) in str(info.value)


def test_files_that_are_no_checkpoint_at_all(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint_model(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("not a pickle")
    with pytest.raises(CheckpointError, match="cannot read it as a checkpoint"):
        load_checkpoint_model(tmp_path / "text.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="is not a training checkpoint"):
        load_checkpoint_model(tmp_path / "list.pt")
    assert issubclass(CheckpointError, ValueError)  # callers that catch ValueError keep working
