"""Pydantic response models (the OpenAPI schema and its examples come from here)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_TAGS = [
    {"tag": "guitar", "probability": 0.913, "threshold": 0.338, "present": True},
    {"tag": "slow", "probability": 0.642, "threshold": 0.266, "present": True},
    {"tag": "classical", "probability": 0.211, "threshold": 0.424, "present": False},
]


class ErrorResponse(BaseModel):
    """Every error: a message saying what was wrong, plus extra fields where useful."""

    model_config = ConfigDict(extra="allow")
    detail: str = Field(examples=["unknown model 'nope'; available models: cnn1d, cnn2d_gru"])


class TagProbability(BaseModel):
    tag: str = Field(description="Tag name (MTAT vocabulary).")
    probability: float = Field(ge=0, le=1, description="Sigmoid probability of the tag.")
    threshold: float | None = Field(
        None,
        description="The tag's decision threshold under the answer's policy (decision.policy); "
        "null when nothing is decided, or when the policy has no threshold for this tag "
        "(precision policy: no threshold reaches the target precision; never present).",
    )
    present: bool | None = Field(
        None,
        description="Whether the tag is decided present (probability >= threshold); null when "
        "nothing is decided (labels is null).",
    )


class Decision(BaseModel):
    """How the answer's probabilities became ``labels``."""

    policy: str = Field(
        description="f1 (the card's thresholds of maximal F1), precision (its thresholds of "
        "precision >= 0.8), none (probabilities only) or fixed (the threshold given)."
    )
    source: str | None = Field(
        None, description="Where the thresholds come from (the card calibration's data)."
    )
    reason: str | None = Field(
        None, description="Why nothing is decided (labels is null), e.g. an uncalibrated model."
    )


class Timings(BaseModel):
    decode_ms: float = Field(description="Decode, mix to mono and resample to 16 kHz.")
    inference_ms: float = Field(description="onnxruntime over all chunks.")
    total_ms: float = Field(description="Decode + chunking + inference + aggregation.")


class SegmentPrediction(BaseModel):
    start_s: float = Field(description="Segment start in seconds.")
    end_s: float = Field(description="Segment end in seconds (clip end for the last one).")
    probabilities: dict[str, float] = Field(
        description="Probability of every tag for this segment, in the model's tag order."
    )


class TagSet(BaseModel):
    """Which of the model's tags the response ranks (``all_tags``)."""

    all_tags: bool = Field(description="Whether all of the model's tags were asked for.")
    model_tags: int = Field(description="How many tags the model has (10 or 50).")
    ranked: int = Field(description="How many tags were ranked (top_k of them are returned).")
    note: str | None = Field(
        None,
        description="Said when the model has fewer tags than all_tags=true could return.",
        exclude_if=lambda v: v is None,
    )


class PredictResponse(BaseModel):
    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "model": "cnn2d_gru",
                    "provider": "CUDAExecutionProvider",
                    "tags": EXAMPLE_TAGS,
                    "duration_s": 29.124,
                    "sample_rate": 16000,
                    "chunk_s": 3.69,
                    "n_chunks": 16,
                    "heard_s": 29.124,
                    "timings": {"decode_ms": 41.2, "inference_ms": 8.7, "total_ms": 50.6},
                    "tag_set": {"all_tags": False, "model_tags": 50, "ranked": 10},
                    "labels": ["guitar", "slow"],
                    "decision": {
                        "policy": "f1",
                        "source": "MTAT test split: published predictions of Won et al.",
                        "reason": None,
                    },
                    "segments": [
                        {
                            "start_s": 0.0,
                            "end_s": 3.69,
                            "probabilities": {"guitar": 0.93, "classical": 0.18},
                        }
                    ],
                    "embedding": [0.0, 1.274, 0.318, 2.09],
                    "embedding_layer": "input of the final classifier layer (Gemm "
                    "'/inner/head/fc/Gemm', weight 'inner.head.fc.weight'), i.e. the "
                    "penultimate features: tensor '/inner/head/ReduceMax_output_0', output of "
                    "a ReduceMax",
                    "embedding_size": 4,
                }
            ]
        },
    )

    model: str = Field(description="Model that tagged the clip.")
    provider: str = Field(description="onnxruntime execution provider it ran on.")
    tags: list[TagProbability] = Field(description="Top-k tags, highest probability first.")
    duration_s: float = Field(description="Audio duration in seconds.")
    sample_rate: int = Field(description="Rate the audio was resampled to (the model's).")
    chunk_s: float = Field(description="Length of one model input chunk in seconds.")
    n_chunks: int = Field(
        description="Chunks averaged for the clip prediction (the model card's clip rule: evenly "
        "spaced, or whole chunks every hop)."
    )
    heard_s: float = Field(
        description="Seconds of the recording the clip prediction heard (the union of its "
        "chunks): the whole of a short clip; of a long one, up to TAGGER_MAX_CLIP_CHUNKS chunks "
        "spread over it."
    )
    timings: Timings
    segments: list[SegmentPrediction] | None = Field(
        None,
        description="Per-segment probabilities (only with segments=true).",
        exclude_if=lambda v: v is None,
    )
    embedding: list[float] | None = Field(
        None,
        description="Only with embedding=true: the clip's embedding, the model's penultimate "
        "features (the input of its final classifier layer) averaged over the clip's chunks "
        "(those of n_chunks, as the probabilities; segments do not count), embedding_size "
        "floats. Comparable only between answers of the same model.",
        exclude_if=lambda v: v is None,
    )
    embedding_layer: str | None = Field(
        None,
        description="Only with embedding=true: which layer the embedding is (the model card's "
        "embedding.layer: in words, with its graph tensor name).",
        exclude_if=lambda v: v is None,
    )
    embedding_size: int | None = Field(
        None,
        description="Only with embedding=true: the embedding's length D.",
        exclude_if=lambda v: v is None,
    )
    tag_set: TagSet = Field(description="Which of the model's tags were ranked.")
    labels: list[str] | None = Field(
        description="The tags decided present among the ranked ones (all of them, not only the "
        "top_k returned), most probable first; [] when none reaches its threshold; null when "
        "nothing is decided (threshold_policy=none, or a model without calibrated thresholds "
        "and no threshold given: decision.reason says which)."
    )
    decision: Decision = Field(description="How labels were decided.")


class TagScores(BaseModel):
    roc_auc: float | None = None
    pr_auc: float | None = None


class EvaluationSummary(BaseModel):
    """One evaluation of a model (tagging/evaluations.py): its data, who measured it, scores."""

    id: str = Field(description="Short key, e.g. mtat_test, synthetic_test, real_recordings.")
    data: str = Field(description="The data it was measured on.")
    split: str | None = None
    n_clips: int | None = None
    measured_by: str = Field(description="'project' (training.evaluate.evaluate here) or 'source'.")
    measured_model: str | None = Field(
        None,
        description="The model these scores were measured on when it is not this one (an int8 "
        "variant shows its fp32 original's: `won_musicnn (fp32); not re-measured ...`).",
    )
    source: str | None = Field(
        None, description="Where the figures come from (measured_by=source)."
    )
    citation: str | None = None
    per_tag: dict[str, TagScores] = Field(description="ROC-AUC and PR-AUC per tag, where given.")
    macro: TagScores = Field(description="Macro averages over the evaluation's tags.")
    macro_project_tags: TagScores | None = Field(
        None,
        description="Macro averages over the project's ten tags (where per-tag figures exist).",
    )


class ModelSummary(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    architecture: str | None = None
    trained_on: str | None = None
    parameters: int | None = None
    tags: list[str]
    chunk_samples: int
    sample_rate: int
    per_tag: dict[str, TagScores] = Field(
        description="ROC-AUC and PR-AUC per tag of the headline evaluation (evaluations[0])."
    )
    macro: TagScores = Field(description="Macro averages of the headline evaluation.")
    evaluated: bool = Field(description="Whether the card has any evaluation.")
    evaluations: list[EvaluationSummary] = Field(
        default_factory=list, description="Every evaluation of the model, headline first."
    )
    source: str | None = Field(None, description="Where the weights come from.")
    licence: str | None = Field(None, description="Licence of the weights (text in the folder).")
    attribution: str | None = None
    default: bool = Field(description="Whether requests without ?model= use this model.")
    loaded: bool
    provider: str | None = Field(None, description="Execution provider in use when loaded.")
    fallback: bool = Field(False, description="CUDA was asked for but the model runs on CPU.")
    fallback_reason: str | None = None
    placement: dict[str, int] | None = Field(
        None,
        description="Loaded on CUDA: distinct graph nodes per execution provider, counted from "
        "the profiled warm-up (shape arithmetic on CPUExecutionProvider is normal).",
    )
    load_ms: float | None = Field(None, description="Session creation time when loaded (ms).")
    warmup_ms: float | None = Field(
        None, description="Warm-up runs when loaded (ms; on CUDA it includes cuDNN's search)."
    )


class ModelsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "default_model": "cnn2d_gru",
                    "providers_requested": "auto",
                    "available_providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                    "models": [
                        {
                            "name": "cnn2d_gru",
                            "architecture": "cnn2d_gru",
                            "trained_on": "mtat",
                            "parameters": 412938,
                            "tags": ["guitar", "classical"],
                            "chunk_samples": 59049,
                            "sample_rate": 16000,
                            "per_tag": {
                                "guitar": {"roc_auc": 0.91, "pr_auc": 0.66},
                                "classical": {"roc_auc": 0.95, "pr_auc": 0.81},
                            },
                            "macro": {"roc_auc": 0.93, "pr_auc": 0.735},
                            "evaluated": True,
                            "default": True,
                            "loaded": True,
                            "provider": "CPUExecutionProvider",
                            "fallback": True,
                            "fallback_reason": "onnxruntime could not create the "
                            "CUDAExecutionProvider ... and runs on CPUExecutionProvider",
                        }
                    ],
                    "invalid": {},
                }
            ]
        }
    )

    default_model: str | None
    providers_requested: str
    available_providers: list[str]
    models: list[ModelSummary]
    invalid: dict[str, str] = Field(
        default_factory=dict, description="Model folders whose card cannot be used, with why."
    )


class EvaluationEntry(BaseModel):
    name: str
    trained_on: str | None = None
    evaluation: dict[str, Any] | None = Field(
        description="The card's evaluation block (evaluation.json), or null if never evaluated."
    )
    evaluations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every evaluation (tagging/evaluations.py), with evaluate()'s full results "
        "where this project measured it.",
    )


class MetricsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "models": [
                        {
                            "name": "cnn1d",
                            "trained_on": "synthetic",
                            "evaluation": {
                                "split": "test",
                                "thresholds_from": "valid",
                                "results": {
                                    "n_clips": 120,
                                    "macro": {"roc_auc": 0.88, "pr_auc": 0.61},
                                    "per_tag": {"guitar": {"roc_auc": 0.9, "pr_auc": 0.7}},
                                },
                            },
                        }
                    ]
                }
            ]
        }
    )
    models: list[EvaluationEntry]


class HealthResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: str


class ReadyResponse(BaseModel):
    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "model": "cnn2d_gru",
                    "providers_requested": "auto",
                    "provider": "CPUExecutionProvider",
                    "fallback": True,
                    "fallback_reason": "onnxruntime could not create the CUDAExecutionProvider"
                    " ... and runs on CPUExecutionProvider",
                }
            ]
        },
    )
    status: str
    model: str
    providers_requested: str
    provider: str
    fallback: bool
    fallback_reason: str | None = None
    placement: dict[str, int] | None = Field(
        None, description="On CUDA: graph nodes per execution provider (see /models)."
    )
