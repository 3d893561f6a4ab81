"""The eight auto-tagging architectures behind one registry.

``build_model(name, n_tags=10, **config)`` builds a model by name; every model maps a 16 kHz
waveform ``(batch, samples)`` to logits ``(batch, n_tags)`` and accepts any length of about 1 s
or more (global pooling / RNN over time; shorter input than a model's ``min_samples`` is
zero-padded). ``width`` (channel multiplier) is a config key of every model; the 2D models also
take ``frontend="mel" | "stft"``. Unknown names or config keys raise ``ValueError``.

=============  ==============================================================================
cnn1d          SampleCNN on raw samples (Lee et al. 2017)
cnn1d_rnn      SampleCNN front + nn.RNN over its time axis
cnn1d_lstm     SampleCNN front + nn.LSTM
cnn1d_gru      SampleCNN front + nn.GRU
chunk_cnn1d    SampleCNN on 0.5 s chunks folded into the batch, max over chunks
cnn2d_rnn      CRNN (Choi et al. 2017): 2D CNN on an in-model log-mel spectrogram + nn.RNN
cnn2d_lstm     CRNN with nn.LSTM
cnn2d_gru      CRNN with nn.GRU (the paper's choice)
=============  ==============================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from training.models.cnn1d import (
    ChunkCNN1D,
    ChunkCNN1DConfig,
    CNN1DConfig,
    CNN1DRNNConfig,
    SampleCNN,
    SampleCNNRNN,
)
from training.models.crnn import CRNN, CRNNConfig

Builder = Callable[..., nn.Module]


def _make_config(name: str, cls: type, config: dict[str, Any]) -> Any:
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown config key(s) {', '.join(unknown)} for model {name!r}; "
            f"valid keys: {', '.join(valid)}"
        )
    cfg = cls(**config)
    if not cfg.width > 0:
        raise ValueError(f"width must be positive, got {cfg.width}")
    return cfg


def _resolved(cls: type, n_tags: int, cfg: Any, *args: Any) -> nn.Module:
    """Build ``cls`` and record its complete config (defaults included) as ``model.model_config``,
    so checkpoints and cards rebuild the same network even if a default changes later."""
    model = cls(n_tags, cfg, *args)
    model.model_config = dataclasses.asdict(cfg)
    return model


def _build_cnn1d(n_tags: int = 10, **config: Any) -> nn.Module:
    return _resolved(SampleCNN, n_tags, _make_config("cnn1d", CNN1DConfig, config))


def _build_cnn1d_rnn(cell: str, n_tags: int = 10, **config: Any) -> nn.Module:
    return _resolved(
        SampleCNNRNN, n_tags, _make_config(f"cnn1d_{cell}", CNN1DRNNConfig, config), cell
    )


def _build_chunk_cnn1d(n_tags: int = 10, **config: Any) -> nn.Module:
    return _resolved(ChunkCNN1D, n_tags, _make_config("chunk_cnn1d", ChunkCNN1DConfig, config))


def _build_crnn(cell: str, n_tags: int = 10, **config: Any) -> nn.Module:
    return _resolved(CRNN, n_tags, _make_config(f"cnn2d_{cell}", CRNNConfig, config), cell)


MODELS: dict[str, Builder] = {
    "cnn1d": _build_cnn1d,
    "cnn1d_rnn": partial(_build_cnn1d_rnn, "rnn"),
    "cnn1d_lstm": partial(_build_cnn1d_rnn, "lstm"),
    "cnn1d_gru": partial(_build_cnn1d_rnn, "gru"),
    "chunk_cnn1d": _build_chunk_cnn1d,
    "cnn2d_rnn": partial(_build_crnn, "rnn"),
    "cnn2d_lstm": partial(_build_crnn, "lstm"),
    "cnn2d_gru": partial(_build_crnn, "gru"),
}
"""Model name -> builder ``(n_tags=10, **config) -> nn.Module``."""


def build_model(name: str, n_tags: int = 10, **config: Any) -> nn.Module:
    """Build the architecture ``name`` with ``n_tags`` outputs; ``config`` as in its dataclass."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    if int(n_tags) < 1:
        raise ValueError(f"n_tags must be at least 1, got {n_tags}")
    return MODELS[name](n_tags=int(n_tags), **config)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (fixed front-end buffers are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODELS", "build_model", "count_parameters"]
