"""train(): the shared setup learns, checkpoints are self-describing, resume is exact, DDP works."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.paths import REPO
from tests.training.support import TINY_OVERRIDES
from training import train as train_module
from training.config import TrainConfig, profile
from training.models import build_model
from training.train import LOG_COLUMNS, DistContext, set_up, train, train_epoch


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) pipeline: synthetic MTAT MP3s -> prepare -> cache."""
    from training.data.prepare import prepare
    from training.data.synth import synthesize

    root = tmp_path_factory.mktemp("train_data")
    synthesize(root / "mtat", 64, seed=0, seconds=2.0, workers=1, progress=False)
    prepare(root / "mtat", root / "cache", workers=1, progress=False)
    return root / "cache"


def tiny(**changes: object) -> TrainConfig:
    return profile("quick", "cnn1d", **{**TINY_OVERRIDES, "epochs": 2, **changes})


def test_config_roundtrip_and_validation() -> None:
    cfg = profile("full", "cnn2d_gru")
    assert cfg.chunk_samples == 59049 and cfg.batch_size == 16 and cfg.eval_chunks == 16
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    quick = profile("quick", "cnn1d", epochs=3, width=0.5)
    assert quick.epochs == 3 and quick.model_config["width"] == 0.5
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({**cfg.to_dict(), "lr_typo": 1})
    with pytest.raises(ValueError, match="select_metric"):
        TrainConfig(select_metric="accuracy")
    with pytest.raises(ValueError, match="unknown profile"):
        profile("huge")
    # workers and device do not change results: a run may resume with other values
    assert cfg.replace(num_workers=0, device="cpu").run_identity() == cfg.run_identity()


def test_training_reduces_loss_and_writes_run(cache_dir: Path, tmp_path: Path) -> None:
    cfg = tiny(epochs=3, schedule="constant", lr=3e-3, patience=0)
    best = train(cfg, cache_dir, tmp_path, progress=False)
    assert best == tmp_path / "cnn1d" / "best.pt" and best.is_file()
    rows = list(csv.DictReader((tmp_path / "cnn1d" / "log.csv").open()))
    assert tuple(rows[0]) == LOG_COLUMNS and len(rows) == 3
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < losses[0]
    for r in rows:
        assert float(r["clips_per_s"]) > 0 and 0 <= float(r["data_wait_share"]) <= 1
    ckpt = torch.load(tmp_path / "cnn1d" / "last.pt", map_location="cpu", weights_only=False)
    for key in (
        "model_name", "model_config", "tags", "sample_rate", "chunk_samples", "config", "epoch",
        "metric_name", "metric", "best_metric", "state_dict", "optimizer", "scheduler", "scaler",
        "rng_state",
    ):  # fmt: skip
        assert key in ckpt, key
    assert ckpt["epoch"] == 3 and ckpt["finished"] and ckpt["sample_rate"] == 16000
    assert TrainConfig.from_dict(ckpt["config"]) == cfg
    # the complete model config (defaults included), so a later default change cannot alter it
    assert ckpt["model_config"] == build_model("cnn1d", **cfg.model_config).model_config
    assert set(ckpt["model_config"]) >= {"width", "dropout"}
    # the checkpoint rebuilds its model on its own
    from training.checkpoints import load_checkpoint_model

    model, _ = load_checkpoint_model(best)
    assert model(torch.zeros(2, 16000)).shape == (2, len(ckpt["tags"]))
    # a finished run returns at once; another setup in the same directory is refused
    assert train(cfg, cache_dir, tmp_path, progress=False) == best
    with pytest.raises(ValueError, match="different setup"):
        train(tiny(epochs=5), cache_dir, tmp_path, progress=False)


def test_epoch_loss_is_the_float64_mean_of_the_step_losses(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The loss is summed on the device and read at the log interval and the epoch's end: the
    epoch figure is still the in-order float64 mean of every step's loss, and the progress bar
    shows the mean over each interval."""
    monkeypatch.setattr(train_module, "LOSS_LOG_STEPS", 2)
    run = set_up(tiny(batch_size=4), cache_dir, tmp_path, DistContext.from_env("cpu"))
    criterion, seen = run.criterion, []

    def recording(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = criterion(logits, labels)
        seen.append(loss.item())
        return loss

    run.criterion = recording
    stats = train_epoch(run, 0, progress=True)
    assert len(seen) >= 4
    total = 0.0
    for value in seen:  # in step order, as the host summed the losses one by one
        total += value
    assert stats.train_loss == total / len(seen)
    bar = capsys.readouterr().err
    assert f"loss={(seen[0] + seen[1]) / 2:.4f}" in bar
    assert f"loss={(seen[2] + seen[3]) / 2:.4f}" in bar


def test_resume_after_kill_gives_the_same_weights(cache_dir: Path, tmp_path: Path) -> None:
    cfg = tiny(epochs=2, patience=0)
    train(cfg, cache_dir, tmp_path / "straight", progress=False)

    class Killed(Exception):
        pass

    def kill_after_first_epoch(epoch: int, row: dict) -> None:
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(
            cfg, cache_dir, tmp_path / "killed", progress=False, on_epoch_end=kill_after_first_epoch
        )
    first = torch.load(tmp_path / "killed/cnn1d/last.pt", map_location="cpu", weights_only=False)
    assert first["epoch"] == 1 and not first["finished"]
    # resume with a DataLoader worker: crops and order do not depend on the worker count
    train(cfg.replace(num_workers=1), cache_dir, tmp_path / "killed", progress=False)

    a = torch.load(tmp_path / "straight/cnn1d/last.pt", map_location="cpu", weights_only=False)
    b = torch.load(tmp_path / "killed/cnn1d/last.pt", map_location="cpu", weights_only=False)
    assert a["epoch"] == b["epoch"] == 2
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    rows = list(csv.DictReader((tmp_path / "killed/cnn1d/log.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[1]["train_loss"]) == a["history"][1]["train_loss"]


def test_pinned_threads_give_the_same_weights_whatever_the_process_default(
    cache_dir: Path, tmp_path: Path
) -> None:
    """CPU kernels split their float sums by thread: ``threads`` fixes the count for the run
    (recorded in environment.json), whatever the process's default (the machine's cores,
    OMP_NUM_THREADS), and gives the process its own count back afterwards."""
    cfg = tiny(epochs=1, patience=0, threads=2)
    before = torch.get_num_threads()
    try:
        for default in (1, 3):
            torch.set_num_threads(default)
            train(cfg, cache_dir, tmp_path / f"default{default}", progress=False)
            assert torch.get_num_threads() == default  # restored after the run
    finally:
        torch.set_num_threads(before)
    a, b = (
        torch.load(tmp_path / f"default{d}/cnn1d/last.pt", map_location="cpu", weights_only=False)
        for d in (1, 3)
    )
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    env = json.loads((tmp_path / "default1/cnn1d/environment.json").read_text())
    assert env["torch_threads"] == 2
    assert env["packages"]["torch"].startswith(torch.__version__.split("+")[0])
    assert env["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    with pytest.raises(ValueError, match="threads"):
        tiny(threads=-1)


def test_missing_cache_without_mtat_root_is_a_clear_error(tmp_path: Path) -> None:
    from training.data.cache import CacheError

    with pytest.raises(CacheError, match="prepare"):
        train(tiny(), tmp_path / "nowhere", tmp_path / "out", progress=False)


def test_ddp_two_processes_on_cpu(cache_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "training", "train", "--model", "cnn1d", "--cache", str(cache_dir),
        "--out", str(tmp_path), "--profile", "quick", "--epochs", "1", "--width", "0.125",
        "--chunk-samples", "16000", "--batch-size", "4", "--eval-chunks", "2",
        "--workers", "0", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(tmp_path / "cnn1d/best.pt", map_location="cpu", weights_only=False)
    assert ckpt["world_size"] == 2 and ckpt["epoch"] == 1
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    rows = list(csv.DictReader((tmp_path / "cnn1d/log.csv").open()))
    assert len(rows) == 1  # only rank 0 logs
