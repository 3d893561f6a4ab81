"""ONNX export of every architecture, the onnxruntime check, and the export CLI with model cards."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tagging.audio import chunk_starts, decode, take_chunks
from tagging.card import CARD_VERSION, ModelCard, rule_dict
from tagging.clips import ClipRule
from tagging.constants import TOP10_TAGS
from tagging.evaluations import card_evaluations
from tests.paths import DATA, REPO
from training.cli import main as cli_main
from training.export import (
    DEFAULT_TOLERANCE,
    ExportCheckError,
    check_export,
    export_onnx,
    graph_op_types,
    penultimate_features,
    portable_paths,
    synthetic_check_audio,
)
from training.models import MODELS, build_model

MTAT_CLIP = DATA / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
CHUNK = 16_000  # 1 s keeps the exports fast; the graphs are the same at 59,049 samples

# Operators of our graphs, each checked to have a kernel in onnxruntime 1.31's CUDA execution
# provider (kernel classes in libonnxruntime_providers_cuda.so; docs/OperatorKernels.md). That
# library registers no STFT or DFT kernel, hence the in-model Conv1d DFT front-end.
CUDA_OPS = {
    "Add", "BatchNormalization", "Cast", "Concat", "Constant", "ConstantOfShape", "Conv",
    "Expand", "GRU", "Gather", "Gemm", "Identity", "LSTM", "Log", "MatMul", "MaxPool", "Mul",
    "Pad", "RNN", "ReduceMax", "ReduceMean", "Relu", "Reshape", "Shape", "Sigmoid", "Slice",
    "Squeeze", "Sub", "Transpose", "Unsqueeze",
}  # fmt: skip
CARD_FIELDS = {
    "card_version", "name", "architecture", "model_config", "tags", "sample_rate",
    "chunk_samples", "clip_rule", "parameters", "opset", "input_name", "output_name",
    "trained_on", "dataset", "training", "created", "code_version", "export_check",
    "evaluation", "evaluations",
}  # fmt: skip


@pytest.fixture(scope="module")
def real_chunks() -> np.ndarray:
    """Three 1 s chunks of a real MTAT clip (real MP3 decode)."""
    x = decode(MTAT_CLIP)
    return take_chunks(x, chunk_starts(len(x), CHUNK, 3), CHUNK)  # (3, CHUNK)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # One intra-op thread: two OpenMP threads competing with other processes on the shared
    # 2-core machine spin-wait and slow these small graphs down many times.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[torch.nn.Module, Path]]:
    out = tmp_path_factory.mktemp("onnx")
    result = {}
    for name in MODELS:
        torch.manual_seed(0)
        model = build_model(name, width=0.125).eval()
        result[name] = (model, export_onnx(model, CHUNK, out / f"{name}.onnx"))
    return result


@pytest.mark.parametrize("name", list(MODELS))
def test_export_matches_pytorch_at_batch_1_and_3(
    name: str, exported: dict, real_chunks: np.ndarray
) -> None:
    model, path = exported[name]
    check = check_export(model, path, real_chunks)
    assert check["onnx_checker"] is True
    assert check["batch_sizes"] == [1, 3]
    assert check["max_abs_diff"] <= DEFAULT_TOLERANCE == check["tolerance"]

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["waveform"]
    assert [o.name for o in sess.get_outputs()] == ["probabilities"]
    assert sess.get_inputs()[0].shape[1] == CHUNK
    assert not isinstance(sess.get_inputs()[0].shape[0], int)  # dynamic batch
    probs = sess.run(None, {"waveform": real_chunks})[0]
    assert probs.shape == (3, 10) and ((probs > 0) & (probs < 1)).all()  # sigmoid in the graph


@pytest.mark.parametrize("name", list(MODELS))
def test_graph_has_no_stft_and_only_cuda_ops(name: str, exported: dict) -> None:
    ops = graph_op_types(exported[name][1])
    assert "STFT" not in ops and "DFT" not in ops
    assert ops <= CUDA_OPS, f"{name} uses ops outside the CUDA-checked set: {ops - CUDA_OPS}"
    if name.startswith("cnn2d"):
        cell = name.split("_")[1].upper()
        assert {"Conv", "MatMul", "Log", cell} <= ops  # DFT conv, mel matmul, log, native RNN


def test_stft_frontend_exports(tmp_path: Path, real_chunks: np.ndarray) -> None:
    model = build_model("cnn2d_gru", width=0.125, frontend="stft").eval()
    path = export_onnx(model, CHUNK, tmp_path / "m.onnx")
    assert "STFT" not in graph_op_types(path)
    assert check_export(model, path, real_chunks)["max_abs_diff"] <= DEFAULT_TOLERANCE


def test_check_export_catches_a_mismatch(exported: dict, real_chunks: np.ndarray) -> None:
    model, path = exported["cnn1d"]
    changed = build_model("cnn1d", width=0.125).eval()
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.fc.bias += 0.5  # the graph no longer matches this model
    with pytest.raises(ExportCheckError, match="differ"):
        check_export(changed, path, real_chunks)
    with pytest.raises(ValueError, match="samples per chunk"):
        check_export(model, path, real_chunks[:, :8000])


def test_export_leaves_the_callers_model_alone(tmp_path: Path) -> None:
    model = build_model("cnn1d_gru", width=0.125).train()
    export_onnx(model, CHUNK, tmp_path / "sub" / "m.onnx")
    assert model.training
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["m.onnx"]  # no temp files


# ------------------------------------------------------------------------------------- CLI
def _write_run(
    root: Path, name: str, seed: int, dataset: dict, evaluation: dict | None
) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = {"width": 0.125}
    model = build_model(name, n_tags=len(TOP10_TAGS), **config)
    # Move the BatchNorm statistics off their defaults so that loading them matters.
    model.train()
    with torch.no_grad():
        model(0.1 * torch.randn(4, CHUNK))
    run = root / name
    run.mkdir(parents=True)
    ckpt = {
        "model_name": name,
        "model_config": config,
        "tags": list(TOP10_TAGS),
        "sample_rate": 16_000,
        "chunk_samples": CHUNK,
        "config": {"model": name, "epochs": 3, "eval_chunks": 8, "profile": "quick"},
        "epoch": 2,
        "metric_name": "roc_auc",
        "metric": 0.71,
        "best_metric": 0.71,
        "best_epoch": 2,
        "train_seconds": 12.5,
        "history": [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}],
        "dataset": dataset,
        "state_dict": model.state_dict(),
        "optimizer": {},
        "scheduler": {},
        "scaler": {},
        "rng_state": {},
    }
    torch.save(ckpt, run / "best.pt")
    if evaluation is not None:
        (run / "evaluation.json").write_text(json.dumps(evaluation))
    return model.eval()


def test_export_cli_writes_models_and_cards(
    tmp_path: Path, real_chunks: np.ndarray, capsys: pytest.CaptureFixture
) -> None:
    evaluation = {
        "split": "test",
        "thresholds_from": "valid",
        "dataset": {"synthetic": True, "tags": list(TOP10_TAGS)},
        "results": {"n_clips": 5, "macro": {"roc_auc": 0.66}},
    }
    ckpts = tmp_path / "checkpoints"
    models = {
        "cnn2d_gru": _write_run(ckpts, "cnn2d_gru", 0, {"synthetic": True}, evaluation),
        "cnn1d": _write_run(ckpts, "cnn1d", 1, {"cache": str(tmp_path / "nocache")}, None),
    }
    (ckpts / "not_a_run").mkdir()  # ignored: no best.pt
    out = tmp_path / "models"

    assert cli_main(["export", "--checkpoints", str(ckpts), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "cnn2d_gru" in table and "cnn1d" in table and "0.660" in table

    assert sorted(p.name for p in out.iterdir()) == ["cnn1d", "cnn2d_gru"]
    for name, model in models.items():
        files = sorted(p.name for p in (out / name).iterdir())
        assert files == ["card.json", "model.onnx"]  # nothing half-written left behind
        card = json.loads((out / name / "card.json").read_text())
        assert set(card) >= CARD_FIELDS
        assert card["name"] == card["architecture"] == name
        assert card["tags"] == list(TOP10_TAGS)
        assert card["sample_rate"] == 16_000 and card["chunk_samples"] == CHUNK
        assert ModelCard.model_validate(card).dump() == card  # the schema, as written
        assert card["card_version"] == CARD_VERSION and "eval_chunks" not in card
        assert card["clip_rule"] == rule_dict(ClipRule.evenly_spaced(CHUNK, 16))
        assert card["training"]["eval_chunks"] == 8
        assert card["input_name"] == "waveform" and card["output_name"] == "probabilities"
        assert card["model_config"] == {"width": 0.125}
        assert card["parameters"] == sum(p.numel() for p in model.parameters())
        assert card["training"]["best_epoch"] == 2 and card["training"]["epochs"] == 3
        assert card["training"]["train_seconds"] == 12.5
        assert card["code_version"].startswith("0.1.0")
        assert card["created"][:2] == "20"
        check = card["export_check"]
        assert check["onnx_checker"] is True and check["max_abs_diff"] <= check["tolerance"]
        assert check["audio"].startswith("synthetic")
        assert check["embedding_max_abs_diff"] <= check["tolerance"]
        onnx.checker.check_model(str(out / name / "model.onnx"))
        # The export carries the embedding (training.embedding), named by the card.
        assert card["embedding"]["output"] == "embedding" and card["embedding"]["size"] > 0

        # The exported file carries the checkpoint's weights: same probabilities as the model.
        sess = ort.InferenceSession(
            str(out / name / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        got, emb = sess.run(["probabilities", "embedding"], {"waveform": real_chunks[:2]})
        with torch.no_grad():
            want = torch.sigmoid(model(torch.from_numpy(real_chunks[:2]))).numpy()
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert emb.shape == (2, card["embedding"]["size"])
        np.testing.assert_allclose(emb, penultimate_features(model, real_chunks[:2], 10), atol=1e-4)

    gru = json.loads((out / "cnn2d_gru" / "card.json").read_text())
    assert gru["evaluation"] == evaluation and gru["trained_on"] == "synthetic"
    assert gru["evaluations"] == card_evaluations(
        {"evaluation": evaluation, "trained_on": "synthetic"}
    )
    assert gru["evaluations"][0]["macro"]["roc_auc"] == 0.66
    cnn = json.loads((out / "cnn1d" / "card.json").read_text())
    assert cnn["evaluation"] is None and cnn["trained_on"] == "mtat"
    assert cnn["evaluations"] == []


def test_export_cli_reports_a_broken_checkpoint(tmp_path: Path) -> None:
    ckpts = tmp_path / "checkpoints"
    (ckpts / "cnn1d").mkdir(parents=True)
    torch.save({"model_name": "cnn1d", "tags": ["a"]}, ckpts / "cnn1d" / "best.pt")
    out = tmp_path / "models"
    assert cli_main(["export", "--checkpoints", str(ckpts), "--out", str(out)]) == 1
    assert not (out / "cnn1d" / "model.onnx").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no <name>/best.pt"):
        cli_main(["export", "--checkpoints", str(tmp_path / "empty"), "--out", str(out)])


def test_export_cli_checks_on_cached_clips(tmp_path: Path) -> None:
    """``--cache``: the check runs on chunks of real cached clips (prepare on real MP3s), and a
    cache prepared from a root carrying the synth marker makes the card say "synthetic"."""
    from training.data.mtat import write_annotations, write_synthetic_marker
    from training.data.prepare import prepare

    root = tmp_path / "mtat"
    paths = ["0/a-0-29.mp3", "c/b-0-29.mp3", "d/c-0-29.mp3"]
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(MTAT_CLIP, root / p)
    tags = list(TOP10_TAGS)
    labels = np.eye(3, len(tags), dtype=np.int64)
    write_annotations(root / "annotations_final.csv", [1, 2, 3], paths, tags, labels)
    write_synthetic_marker(root, {"seed": 0})
    cache = tmp_path / "cache"
    prepare(root, cache, workers=1, progress=False)

    ckpts = tmp_path / "checkpoints"
    _write_run(ckpts, "cnn1d_lstm", 0, {"cache": str(cache)}, None)
    out = tmp_path / "models"
    argv = ["export", "--checkpoints", str(ckpts), "--out", str(out), "--cache", str(cache)]
    assert cli_main(argv) == 0
    card = json.loads((out / "cnn1d_lstm" / "card.json").read_text())
    assert card["export_check"]["audio"] == "cache test split, clip_ids [3]"
    assert card["export_check"]["batch_sizes"] == [1, 4]
    assert card["trained_on"] == "synthetic"


def test_synthetic_check_audio_is_deterministic() -> None:
    a, b = synthetic_check_audio(CHUNK), synthetic_check_audio(CHUNK)
    assert a.shape == (4, CHUNK) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert 0.5 < np.abs(a).max() <= 0.8 + 1e-6 and a.std(axis=1).min() > 0.05


def test_portable_paths_leaves_no_absolute_path() -> None:
    card = {
        "dataset": {"cache": "/home/me/runs/demo/cache", "splits": {"train": {"clips": 3}}},
        "evaluation": {"dataset": {"cache": "C:\\runs\\demo\\cache"}, "roots": ["~/data/mtat"]},
        "url": "https://example.org/a/b",
        "note": "relative/path stays",
    }
    out = portable_paths(card)
    assert out["dataset"] == {"cache": "cache", "splits": {"train": {"clips": 3}}}
    assert out["evaluation"] == {"dataset": {"cache": "cache"}, "roots": ["mtat"]}
    assert out["url"] == card["url"] and out["note"] == card["note"]
    assert portable_paths(out) == out  # idempotent (the card migration relies on it)


def test_committed_cards_have_no_absolute_paths() -> None:
    for path in sorted((REPO / "models").glob("*/card.json")):
        card = json.loads(path.read_text())
        assert portable_paths(card) == card, f"{path} has an absolute path"
