"""The embedding of a model: which layer it is, and the ONNX graph edit that exposes it.

The one definition, for every model (the four ports and the project's architectures): the
embedding is the **input of the final classifier layer**, i.e. the ``(batch, D)`` features
that the last ``Gemm`` (or ``MatMul`` + bias ``Add``) turns into the logits just before the
``Sigmoid`` that produces ``probabilities``. In PyTorch terms it is the input of the last
``nn.Linear`` with ``K`` (tags) outputs (:func:`final_linear`, which the study's embeddings in
:mod:`training.study.embeddings` hook); in Won et al. 2020's and Pons et al. 2018's networks it
is what their code calls the penultimate layer.

:func:`add_embedding` adds a graph output ``embedding`` (an ``Identity`` of that tensor, so
the original tensor keeps its name and every node, weight and the ``probabilities`` output stay
as they were); :func:`upgrade_folder` does it to ``models/<name>/`` (graph + card, idempotent).
``python -m training export`` and ``import-pretrained`` call :func:`upgrade_folder` on every
model they write; ``python -m training add-embedding models/<name>...`` upgrades existing ones.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagging.card import EmbeddingInfo, ModelCard
from tagging.files import atomic_write_bytes

EMBEDDING_NAME = "embedding"
"""The graph output (and card ``embedding.output``) holding the embedding ``(batch, D)``."""


@dataclass(frozen=True)
class ClassifierInput:
    """Where the embedding is in a graph: the classifier node and the tensor it reads."""

    tensor: str  # the classifier's input, (batch, D)
    node: str  # the classifier's node name (Gemm or MatMul)
    op: str  # "Gemm" or "MatMul"
    weight: str  # its weight initializer
    size: int  # D
    producer: str  # op type of the node computing ``tensor`` ("" for a graph input)

    def words(self) -> str:
        """The layer in words, with its graph tensor name (the card's ``embedding.layer``)."""
        return (
            f"input of the final classifier layer ({self.op} {self.node!r}, weight "
            f"{self.weight!r}), i.e. the penultimate features: tensor {self.tensor!r}, output "
            f"of a {self.producer or 'graph input'}"
        )


def _producers(graph: Any) -> dict[str, Any]:
    return {out: node for node in graph.node for out in node.output}


def _attr(node: Any, name: str, default: int) -> int:
    return next((int(a.i) for a in node.attribute if a.name == name), default)


def classifier_input(model: Any, output_name: str = "probabilities") -> ClassifierInput:
    """The tensor feeding the last ``Gemm``/``MatMul`` before the ``Sigmoid`` of ``output_name``.

    Accepted patterns: ``Sigmoid(Gemm(x, W, b))`` (``transA`` 0) and
    ``Sigmoid(Add(MatMul(x, W), b))``, with ``W`` an initializer of rank 2; anything else is a
    :class:`ValueError` (the model has no single classifier layer to take features from).
    """
    graph = model.graph
    producers = _producers(graph)
    weights = {init.name: list(init.dims) for init in graph.initializer}
    sigmoid = producers.get(output_name)
    if sigmoid is None or sigmoid.op_type != "Sigmoid":
        raise ValueError(f"output {output_name!r} is not produced by a Sigmoid")
    node = producers.get(sigmoid.input[0])
    if node is not None and node.op_type == "Add":
        node = next(
            (
                producers[i]
                for i in node.input
                if i in producers and producers[i].op_type == "MatMul"
            ),
            None,
        )
    if node is None or node.op_type not in ("Gemm", "MatMul"):
        raise ValueError(f"the Sigmoid of {output_name!r} is not fed by a Gemm or MatMul(+Add)")
    x, w = node.input[0], node.input[1]
    if w not in weights or len(weights[w]) != 2 or _attr(node, "transA", 0):
        raise ValueError(f"classifier {node.name!r} has no rank-2 weight initializer on input B")
    transposed = node.op_type == "Gemm" and _attr(node, "transB", 0)
    size = weights[w][1] if transposed else weights[w][0]  # W: (K, D) if transB else (D, K)
    producer = producers.get(x)
    return ClassifierInput(
        x, node.name, node.op_type, w, int(size), producer.op_type if producer else ""
    )


def _existing(model: Any) -> str | None:
    """The tensor an existing ``embedding`` output copies (None: the graph has none)."""
    if EMBEDDING_NAME not in [o.name for o in model.graph.output]:
        return None
    node = _producers(model.graph).get(EMBEDDING_NAME)
    if node is None or node.op_type != "Identity":
        raise ValueError(f"the graph's {EMBEDDING_NAME!r} output is not an Identity of a tensor")
    return str(node.input[0])


def add_embedding(model: Any, output_name: str = "probabilities") -> tuple[Any, ClassifierInput]:
    """``model`` with output ``embedding`` ``(batch, D)`` float32 = :func:`classifier_input`
    (in place; unchanged when it already has that output for the same tensor)."""
    from onnx import TensorProto, helper

    layer = classifier_input(model, output_name)
    existing = _existing(model)
    if existing is not None:
        if existing != layer.tensor:
            raise ValueError(
                f"the graph's {EMBEDDING_NAME!r} copies {existing!r}, not the classifier's "
                f"input {layer.tensor!r}"
            )
        return model, layer
    graph = model.graph
    graph.node.append(
        helper.make_node("Identity", [layer.tensor], [EMBEDDING_NAME], name="embedding_output")
    )
    batch = graph.output[0].type.tensor_type.shape.dim[0]
    dim0 = batch.dim_param or (batch.dim_value if batch.HasField("dim_value") else "batch")
    graph.output.append(
        helper.make_tensor_value_info(EMBEDDING_NAME, TensorProto.FLOAT, [dim0, layer.size])
    )
    return model, layer


def card_info(layer: ClassifierInput) -> EmbeddingInfo:
    """The card's ``embedding`` field for ``layer``."""
    return EmbeddingInfo(
        output=EMBEDDING_NAME, layer=layer.words(), tensor=layer.tensor, size=layer.size
    )


def add_embedding_file(path: Path, output_name: str = "probabilities") -> ClassifierInput:
    """:func:`add_embedding` on the ONNX file at ``path`` (rewritten atomically, checked by
    ``onnx.checker``; left untouched when it already has the output)."""
    import onnx

    model = onnx.load(str(path))
    had = _existing(model) is not None
    model, layer = add_embedding(model, output_name)
    if not had:
        onnx.checker.check_model(model, full_check=True)
        atomic_write_bytes(path, model.SerializeToString())
    return layer


def upgrade_folder(folder: str | Path) -> ModelCard:
    """``folder/model.onnx`` gets output ``embedding`` and ``folder/card.json`` its ``embedding``
    field (rewritten through :class:`ModelCard`); idempotent. The graph first, then the card."""
    folder = Path(folder)
    card = ModelCard.read(folder / "card.json")
    layer = add_embedding_file(folder / "model.onnx", card.output_name)
    info = card_info(layer)
    if card.embedding != info:
        card.embedding = info
        card.write(folder / "card.json")
    return card


def final_linear(model: Any, n_tags: int) -> Any:
    """The PyTorch side of the same definition: the last ``nn.Linear`` with ``n_tags`` outputs
    (the classifier), whose input is the embedding; ``ValueError`` if there is none."""
    import torch.nn as nn

    found = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == n_tags]
    if not found:
        raise ValueError(f"model has no nn.Linear layer with {n_tags} outputs to hook")
    return found[-1]


# ------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folders", nargs="+", type=Path, help="model folders (models/<name>)")


def run(args: argparse.Namespace) -> int:
    for folder in args.folders:
        card = upgrade_folder(folder)
        info = card.embedding
        assert info is not None
        print(f"{folder}: {info.output} ({info.size}) = {info.tensor}")
    return 0
