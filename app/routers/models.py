"""The models in the models directory, their cards and where they run."""

from __future__ import annotations

from typing import Annotated, Any

import onnxruntime as ort
from fastapi import APIRouter, Depends, Path

from app.registry import ModelCard, evaluation_scores
from app.schemas import ErrorResponse, ModelsResponse, ModelSummary, TagScores
from app.state import ServiceState, get_state

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


def _summary(name: str, card: ModelCard, state: ServiceState) -> ModelSummary:
    per_tag, macro = evaluation_scores(card)
    loaded = state.registry.loaded().get(name)
    return ModelSummary(
        name=name,
        architecture=card.architecture,
        trained_on=card.trained_on,
        parameters=card.parameters,
        tags=card.tags,
        chunk_samples=card.chunk_samples,
        sample_rate=card.sample_rate,
        per_tag={tag: _scores(per_tag.get(tag)) for tag in card.tags},
        macro=_scores(macro),
        evaluated=card.evaluation is not None,
        default=name == state.default_model,
        loaded=loaded is not None,
        provider=loaded.provider if loaded else None,
        fallback=loaded.fallback if loaded else False,
        fallback_reason=loaded.fallback_reason if loaded else None,
    )


@router.get("/models", response_model=ModelsResponse, summary="Every model and its scores")
async def list_models(state: Annotated[ServiceState, Depends(get_state)]) -> ModelsResponse:
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
                        "name": "cnn1d",
                        "architecture": "cnn1d",
                        "tags": ["guitar", "classical"],
                        "sample_rate": 16000,
                        "chunk_samples": 59049,
                        "eval_chunks": 16,
                        "parameters": 123456,
                        "input_name": "waveform",
                        "output_name": "probabilities",
                        "trained_on": "synthetic",
                        "evaluation": None,
                    }
                }
            },
        },
        **NOT_FOUND,
    },
)
async def get_model(
    name: Annotated[str, Path(description="Model name, as listed by GET /models.")],
    state: Annotated[ServiceState, Depends(get_state)],
) -> dict[str, Any]:
    """The model's card.json, every field."""
    return state.registry.card(name).model_dump(mode="json", exclude_unset=True)
