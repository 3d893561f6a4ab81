"""The model card (``models/<name>/card.json``): one schema that every reader and writer uses.

``training.export`` (the project's models) and ``training.import_pretrained`` (the ports) build a
:class:`ModelCard` and write it with :meth:`ModelCard.write`; ``training.evaluate_onnx`` reads,
extends and rewrites it; the service (``app.registry``) reads it. docs/ARCHITECTURE.md, "Model
cards", describes every field.

Versions: :data:`CARD_VERSION` is the version written today. A card without ``card_version``
(version 0, every card written before the field existed) is migrated when read
(:func:`migrate`): its single ``evaluation`` block becomes an ``evaluations`` entry
(:func:`tagging.evaluations.card_evaluations`) when it has no ``evaluations`` list, and its
``eval_chunks`` (evenly spaced chunks, the project's models) becomes a ``clip_rule``, so every
card names the chunks its model scores. Fields this schema does not declare are kept as they are
(``extra="allow"``): reading and writing a card loses nothing.

Torch-free (the service imports it); pydantic is a base dependency.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tagging.clips import ClipRule
from tagging.constants import EVAL_CHUNKS
from tagging.evaluations import card_evaluations, headline_score
from tagging.files import atomic_write_text

CARD_VERSION = 1
"""The card version this code writes; older versions are migrated on read (:func:`migrate`)."""


def migrate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A card of any known version as a current-version mapping (unchanged if already current).

    Version 0 -> 1: ``evaluations`` = :func:`tagging.evaluations.card_evaluations` (the legacy
    ``evaluation`` block's entry when the card has no ``evaluations`` list; the block itself is
    kept); ``clip_rule`` = ``eval_chunks`` evenly spaced chunks, short clips zero-padded (what the
    service and training's evaluation did for cards without a rule; a card without
    ``eval_chunks`` gets :data:`tagging.constants.EVAL_CHUNKS`), unless the card has its own
    ``clip_rule`` (the ports, whose rule always took precedence); ``eval_chunks`` is then dropped.
    """
    version = raw.get("card_version", 0)
    if version == CARD_VERSION:
        return dict(raw)
    if version != 0 or isinstance(version, bool):
        raise ValueError(
            f"card_version {version!r} is not one this code reads (0 = unversioned, up to "
            f"{CARD_VERSION}); a newer card needs newer code"
        )
    card = {**raw, "card_version": CARD_VERSION}
    card["evaluations"] = card_evaluations(raw)
    n_chunks = card.pop("eval_chunks", None)
    if card.get("clip_rule") is None and isinstance(raw.get("chunk_samples"), int):
        rule = ClipRule.evenly_spaced(raw["chunk_samples"], int(n_chunks or EVAL_CHUNKS))
        card["clip_rule"] = rule_dict(rule)
    return card


def rule_dict(rule: ClipRule) -> dict[str, Any]:
    """A clip rule as the card stores it (every field, JSON-ready)."""
    return {k: getattr(rule, k) for k in rule.__dataclass_fields__}


def _plain(obj: Any) -> Any:
    """JSON for what evaluations and export checks hold besides JSON types (numpy, paths)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


class Calibration(BaseModel):
    """Decision thresholds of one model (``training.calibrate``): per policy, per tag."""

    model_config = ConfigDict(extra="allow")

    thresholds: dict[str, dict[str, float | None]] = Field(
        description="Policy ('f1', 'precision') -> tag -> threshold; null: under that policy no "
        "threshold reaches the target, so the tag is never decided present."
    )
    policy_default: str = Field("f1", description="The policy answers use unless told otherwise.")
    provenance: dict[str, Any] = Field(
        description="Data, source, citation, clips, folds, seed, method and command."
    )
    cross_fitted: dict[str, Any] = Field(
        default_factory=dict,
        description="Per policy: per-tag, macro and micro precision / recall / F1 of held-out "
        "decisions (each clip decided by thresholds fitted without its fold).",
    )

    @model_validator(mode="after")
    def _default_exists(self) -> Calibration:
        if self.policy_default not in self.thresholds:
            raise ValueError(
                f"policy_default {self.policy_default!r} is not among the policies "
                f"{sorted(self.thresholds)}"
            )
        return self


class EmbeddingInfo(BaseModel):
    """The model's embedding output (``training.embedding``): penultimate features per chunk."""

    model_config = ConfigDict(extra="allow")

    output: str = Field(
        "embedding", description="Graph output: (batch, size) float32 features per chunk."
    )
    layer: str = Field(description="Which layer, in words, with its graph tensor name.")
    tensor: str | None = Field(
        None, description="The graph tensor the output copies (the classifier's input)."
    )
    size: int = Field(gt=0, description="Width D of the embedding.")


class ModelCard(BaseModel):
    """``card.json``: what a model takes and returns, how clips are cut, where it comes from and
    how it was evaluated. Undeclared fields are kept as they are."""

    model_config = ConfigDict(
        extra="allow",
        protected_namespaces=(),
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    card_version: int = Field(
        CARD_VERSION,
        description=f"Schema version of the card ({CARD_VERSION} today); a card without one is "
        "version 0 and is migrated when read.",
    )
    name: str | None = Field(None, description="The model's name, its folder under models/.")
    architecture: str | None = Field(
        None, description="Network: a registry name of training.models, or the ported model."
    )
    network_config: dict[str, Any] | None = Field(
        None,
        alias="model_config",
        description="Constructor arguments of the architecture (the project's models).",
    )
    tags: list[str] = Field(
        min_length=1, description="Output columns of the model, in order (MTAT tag names)."
    )
    sample_rate: int = Field(gt=0, description="Sample rate of the input waveform in Hz.")
    chunk_samples: int = Field(gt=0, description="Samples per model input (one chunk).")
    clip_rule: ClipRule = Field(
        description="Which chunks of a clip are scored and averaged (tagging.clips.ClipRule: "
        "chunk_samples, hop_samples or n_chunks, lead_pad, tail_pad, spacing, short_clips)."
    )
    pad: str | None = Field(
        None, description="How clips shorter than one chunk are padded, in words (the ports)."
    )
    parameters: int | None = Field(None, description="Trainable parameters of the network.")
    opset: int | None = Field(None, description="ONNX opset of model.onnx.")
    input_name: str = Field("waveform", description="Graph input: (batch, chunk_samples) float32.")
    output_name: str = Field(
        "probabilities", description="Graph output: (batch, len(tags)) float32 probabilities."
    )
    embedding: EmbeddingInfo | None = Field(
        None,
        description="The graph's second output: the penultimate features (the input of the "
        "final classifier layer) per chunk, averaged over a clip's chunks by the service; "
        "null: the model has none (python -m training add-embedding adds it).",
    )
    ort_disabled_optimizers: list[str] = Field(
        default_factory=list,
        description="onnxruntime graph optimizers to leave out for this model (e.g. "
        "NchwcTransformer, for a network whose convolutions run slower in NCHWc on CPU).",
    )
    trained_on: str | None = Field(
        None, description="'synthetic' (the synthetic MTAT) or 'mtat' (real MagnaTagATune)."
    )
    dataset: dict[str, Any] | str | None = Field(
        None, description="The training data: the cache summary (exports) or a description."
    )
    training: dict[str, Any] | None = Field(
        None, description="The training run: epochs, best epoch, seconds, metric, config."
    )
    source: str | None = Field(None, description="Where the weights come from.")
    weights_sha256: str | None = Field(
        None, description="SHA-256 of the original weights file (the ports)."
    )
    licence: str | None = Field(None, description="Licence of the weights.")
    licence_file: str | None = Field(
        None, description="The licence text's file next to model.onnx."
    )
    attribution: str | None = Field(None, description="Who made the model.")
    citation: str | None = Field(None, description="The paper(s) to cite for the model.")
    created: str | None = Field(None, description="When the card was written (ISO 8601, UTC).")
    code_version: str | None = Field(
        None, description="Version and git commit of the code that wrote the card."
    )
    export_check: dict[str, Any] | None = Field(
        None,
        description="The export check: onnxruntime vs PyTorch (max_abs_diff, tolerance), "
        "onnx checker, batch sizes, providers, exporter, operators, audio used.",
    )
    parity: dict[str, Any] | None = Field(
        None, description="The ports' parity check against the original implementation."
    )
    quantization: dict[str, Any] | None = Field(
        None,
        description="An int8 model (scripts/make_int8.py): the fp32 model it comes from, the "
        "recipe, and its agreement with the fp32 model on the parity recordings (top 3, "
        "max |dp|); null for fp32 models.",
    )
    evaluation: dict[str, Any] | None = Field(
        None,
        description="Legacy: the run's evaluation.json as exported (or null); kept as written, "
        "its entry is in evaluations.",
    )
    evaluations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every evaluation of the model, headline first (tagging.evaluations).",
    )
    calibration: Calibration | None = Field(
        None,
        description="Per-tag decision thresholds fitted on real-MTAT predictions of this model "
        "(python -m training calibrate), with their cross-fitted evidence; null: the model has "
        "no real-MTAT predictions to fit them on, and decides nothing unless given a threshold.",
    )

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        return migrate(data) if isinstance(data, Mapping) else data

    @model_validator(mode="after")
    def _calibration_fits(self) -> ModelCard:
        if self.calibration is not None:
            for policy, per_tag in self.calibration.thresholds.items():
                unknown = sorted(set(per_tag) - set(self.tags))
                if unknown:
                    raise ValueError(f"calibration {policy!r} names tags {unknown} not in tags")
        return self

    @model_validator(mode="after")
    def _rule_fits(self) -> ModelCard:
        if self.clip_rule.chunk_samples != self.chunk_samples:
            raise ValueError(
                f"clip_rule cuts chunks of {self.clip_rule.chunk_samples} samples but the model "
                f"takes {self.chunk_samples} (chunk_samples)"
            )
        return self

    @property
    def version(self) -> str:
        """A short version of the model for what is written into tagged files: the code version
        that wrote the card, else the first 12 hex digits of the weights' SHA-256, else
        ``"unknown"``."""
        if self.code_version:
            return self.code_version
        if self.weights_sha256:
            return self.weights_sha256[:12]
        return "unknown"

    def headline_roc_auc(self) -> float | None:
        """Macro ROC-AUC of the headline evaluation (``evaluations[0]``), or None."""
        return headline_score(self.evaluations, "roc_auc")

    def dump(self) -> dict[str, Any]:
        """The card as JSON-ready data: the fields it was given (migration included) and every
        undeclared one, under their card names."""
        data = self.model_dump(mode="python", by_alias=True, exclude_unset=True)
        return json.loads(json.dumps(data, default=_plain))

    def to_json(self) -> str:
        return json.dumps(self.dump(), indent=2) + "\n"

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        """Validate (and migrate) the card at ``path``."""
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))

    def write(self, path: str | Path) -> None:
        """Write the card to ``path`` atomically (a reader sees the old card or the new one)."""
        atomic_write_text(path, self.to_json())
