"""The embedding output (training.embedding): which layer, the graph edit, the folder upgrade."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tagging.audio import chunk_starts, decode, take_chunks
from tagging.card import ModelCard
from tests.paths import DATA, REPO
from training.cli import main as cli_main
from training.embedding import (
    EMBEDDING_NAME,
    add_embedding,
    add_embedding_file,
    classifier_input,
    final_linear,
    upgrade_folder,
)
from training.export import export_onnx, penultimate_features
from training.models import MODELS, build_model

CHUNK = 16_000  # 1 s keeps the exports fast
MODELS_DIR = REPO / "models"
COMMITTED = sorted(p.name for p in MODELS_DIR.iterdir() if (p / "card.json").is_file())


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def chunks() -> np.ndarray:
    """Three 1 s chunks of a real MTAT clip (real MP3 decode)."""
    x = decode(DATA / "joram-moments_of_clarity-08-solipsism-59-88.mp3")
    return take_chunks(x, chunk_starts(len(x), CHUNK, 3), CHUNK)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_embedding_is_the_pytorch_penultimate_and_leaves_probabilities_alone(
    name: str, tmp_path: Path, chunks: np.ndarray
) -> None:
    torch.manual_seed(0)
    model = build_model(name, width=0.125).eval()
    plain = export_onnx(model, CHUNK, tmp_path / "plain.onnx")
    edited = tmp_path / "edited.onnx"
    shutil.copyfile(plain, edited)
    layer = add_embedding_file(edited)

    want = penultimate_features(model, chunks, 10)  # a real forward pre-hook on the classifier
    assert layer.size == want.shape[1] == final_linear(model, 10).in_features
    before, after = _session(plain), _session(edited)
    assert [o.name for o in after.get_outputs()] == ["probabilities", EMBEDDING_NAME]
    for b in (1, 3):
        probs, emb = after.run(None, {"waveform": chunks[:b]})
        assert np.array_equal(probs, before.run(None, {"waveform": chunks[:b]})[0])
        assert emb.shape == (b, layer.size) and emb.dtype == np.float32
        np.testing.assert_allclose(emb, want[:b], atol=1e-5)


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_models_carry_the_embedding_their_card_names(name: str) -> None:
    card = ModelCard.read(MODELS_DIR / name / "card.json")
    graph = onnx.load(str(MODELS_DIR / name / "model.onnx"))
    assert card.embedding is not None
    layer = classifier_input(graph)
    assert (card.embedding.tensor, card.embedding.size) == (layer.tensor, layer.size)
    assert layer.tensor in card.embedding.layer and card.embedding.output == EMBEDDING_NAME
    outputs = {o.name: o for o in graph.graph.output}
    dims = outputs[EMBEDDING_NAME].type.tensor_type.shape.dim
    assert len(dims) == 2 and dims[1].dim_value == card.embedding.size


def test_add_embedding_command_upgrades_a_folder_once(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "won_fcn"
    shutil.copytree(MODELS_DIR / "won_fcn", folder)
    # Back to a model without the output: drop it from graph and card.
    graph = onnx.load(str(folder / "model.onnx"))
    graph.graph.output.pop()
    graph.graph.node.pop()
    onnx.save(graph, str(folder / "model.onnx"))
    card = ModelCard.read(folder / "card.json")
    card.embedding = None
    card.write(folder / "card.json")
    assert EMBEDDING_NAME not in [o.name for o in _session(folder / "model.onnx").get_outputs()]

    assert cli_main(["add-embedding", str(folder)]) == 0
    assert "embedding (64)" in capsys.readouterr().out
    files = {p: (folder / p).read_bytes() for p in ("model.onnx", "card.json")}
    assert files["model.onnx"] == (MODELS_DIR / "won_fcn" / "model.onnx").read_bytes()
    assert (
        ModelCard.read(folder / "card.json").embedding
        == ModelCard.read(MODELS_DIR / "won_fcn" / "card.json").embedding
    )
    upgrade_folder(folder)  # idempotent: nothing rewritten
    assert {p: (folder / p).read_bytes() for p in files} == files


def test_a_graph_without_a_classifier_before_the_sigmoid_is_refused() -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["waveform"], ["r"]),
            helper.make_node("Sigmoid", ["r"], ["probabilities"]),
        ],
        "g",
        [x],
        [y],
    )
    with pytest.raises(ValueError, match="not fed by a Gemm or MatMul"):
        add_embedding(helper.make_model(graph))


def test_an_embedding_output_of_another_tensor_is_refused() -> None:
    graph = onnx.load(str(MODELS_DIR / "won_fcn" / "model.onnx"))
    graph.graph.node[-1].input[0] = graph.graph.node[-2].output[0]  # Identity of another tensor
    with pytest.raises(ValueError, match="not the classifier's input"):
        add_embedding(graph)
