"""The models in the models directory, their cards and where they run."""

from __future__ import annotations

from typing import Annotated, Any

import onnxruntime as ort
from fastapi import APIRouter, Path

from app.registry import ModelCard, card_evaluations
from app.schemas import (
    ErrorResponse,
    EvaluationSummary,
    ModelsResponse,
    ModelSummary,
    TagScores,
)
from app.state import ServiceState, StateDep

router = APIRouter(tags=["models"])

NOT_FOUND = {
    404: {
        "model": ErrorResponse,
        "description": "No model of that name; lists the valid names.",
        "content": {
            "application/json": {
                "example": {
                    "detail": "unknown model 'nope'; available models: cnn1d, cnn2d_gru",
                    "available": ["cnn1d", "cnn2d_gru"],
                }
            }
        },
    }
}


def _scores(values: Any) -> TagScores:
    values = values if isinstance(values, dict) else {}
    return TagScores(roc_auc=values.get("roc_auc"), pr_auc=values.get("pr_auc"))


def _evaluation(entry: dict[str, Any]) -> EvaluationSummary:
    per_tag = entry.get("per_tag") if isinstance(entry.get("per_tag"), dict) else {}
    project = entry.get("macro_project_tags")
    return EvaluationSummary(
        id=str(entry.get("id", "")),
        data=str(entry.get("data", "")),
        split=entry.get("split"),
        n_clips=entry.get("n_clips"),
        measured_by=str(entry.get("measured_by", "")),
        measured_model=entry.get("model"),
        source=entry.get("source"),
        citation=entry.get("citation"),
        per_tag={tag: _scores(v) for tag, v in per_tag.items()},
        macro=_scores(entry.get("macro")),
        macro_project_tags=_scores(project) if isinstance(project, dict) else None,
    )


def _summary(name: str, card: ModelCard, state: ServiceState) -> ModelSummary:
    evaluations = [_evaluation(e) for e in card_evaluations(card)]
    headline = evaluations[0] if evaluations else None
    per_tag = headline.per_tag if headline else {}
    loaded = state.registry.loaded().get(name)
    return ModelSummary(
        name=name,
        architecture=card.architecture,
        trained_on=card.trained_on,
        parameters=card.parameters,
        tags=card.tags,
        chunk_samples=card.chunk_samples,
        sample_rate=card.sample_rate,
        per_tag={tag: per_tag.get(tag, TagScores()) for tag in card.tags},
        macro=headline.macro if headline else TagScores(),
        evaluated=bool(evaluations),
        evaluations=evaluations,
        source=card.source,
        licence=card.licence,
        attribution=card.attribution,
        default=name == state.default_model,
        loaded=loaded is not None,
        provider=loaded.provider if loaded else None,
        fallback=loaded.fallback if loaded else False,
        fallback_reason=loaded.fallback_reason if loaded else None,
        placement=loaded.placement if loaded else None,
        load_ms=round(loaded.load_ms, 1) if loaded else None,
        warmup_ms=round(loaded.warmup_ms, 1) if loaded else None,
    )


@router.get("/models", response_model=ModelsResponse, summary="Every model and its scores")
async def list_models(state: StateDep) -> ModelsResponse:
    """Every model with per-tag and macro ROC-AUC / PR-AUC, parameters, training data, and
    which ones are loaded on which execution provider (``fallback`` = CUDA asked, CPU used)."""
    cards, invalid = state.registry.cards()
    return ModelsResponse(
        default_model=state.default_model,
        providers_requested=state.settings.providers,
        available_providers=ort.get_available_providers(),
        models=[_summary(name, card, state) for name, card in cards.items()],
        invalid=invalid,
    )


@router.get(
    "/models/{name}",
    response_model=dict[str, Any],
    summary="The whole model card",
    responses={
        200: {
            "description": "card.json as exported (docs/ARCHITECTURE.md, Model cards).",
            "content": {
                "application/json": {
                    "example": {
                        "card_version": 1,
                        "name": "cnn1d",
                        "architecture": "cnn1d",
                        "tags": ["guitar", "classical"],
                        "sample_rate": 16000,
                        "chunk_samples": 32000,
                        "clip_rule": {
                            "chunk_samples": 32000,
                            "n_chunks": 16,
                            "spacing": "even",
                            "short_clips": "zero",
                        },
                        "parameters": 123456,
                        "input_name": "waveform",
                        "output_name": "probabilities",
                        "trained_on": "synthetic",
                        "evaluations": [],
                    }
                }
            },
        },
        **NOT_FOUND,
    },
)
async def get_model(
    name: Annotated[str, Path(description="Model name, as listed by GET /models.")],
    state: StateDep,
) -> dict[str, Any]:
    """The model's card.json, every field."""
    return state.registry.card(name).model_dump(mode="json", exclude_unset=True)
