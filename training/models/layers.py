"""Building blocks shared by the architectures: width scaling, padding, conv blocks, RNN heads.

Every op here exports to plain ONNX operators that onnxruntime's CUDA execution provider runs
(Conv, BatchNormalization, Relu, MaxPool, RNN/LSTM/GRU, ReduceMax/ReduceMean, Gemm, Pad).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

RNN_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
SUMMARIES = ("last", "max", "mean")


def scaled(channels: int, width: float, minimum: int = 4) -> int:
    """``channels * width`` rounded, at least ``minimum`` (the ``width`` multiplier of configs)."""
    return max(minimum, int(round(channels * width)))


def pad_to_min(wave: torch.Tensor, min_samples: int) -> torch.Tensor:
    """Zero-pad ``(B, S)`` at the end to at least ``min_samples`` samples (short inputs only).

    The branch depends on the static input length, so an export for a fixed ``chunk_samples``
    either always pads or never does (no data-dependent control flow in the graph).
    """
    if wave.shape[-1] < min_samples:
        wave = F.pad(wave, (0, min_samples - wave.shape[-1]))
    return wave


def check_wave(wave: torch.Tensor) -> None:
    """Clear error for input that is not a ``(batch, samples)`` waveform."""
    if wave.dim() != 2:
        raise ValueError(
            f"expected a waveform batch of shape (batch, samples), got {tuple(wave.shape)}"
        )


class ConvBlock1d(nn.Module):
    """SampleCNN block (Lee et al. 2017): conv3 -> BN -> ReLU -> maxpool3. (B,Ci,T) -> (B,Co,T//3)."""

    def __init__(self, c_in: int, c_out: int, pool: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm1d(c_out)
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.bn(self.conv(x))))


class ConvBlock2d(nn.Module):
    """CRNN block (Choi et al. 2017): conv3x3 -> BN -> ReLU -> maxpool. (B,Ci,F,T) -> (B,Co,F/pf,T/pt)."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int], bias: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(c_out)
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.bn(self.conv(x))))


class RecurrentHead(nn.Module):
    """A batch-first RNN/LSTM/GRU over the time axis of a feature sequence, then a summary and FC.

    ``(B, C, T)`` -> transpose -> ``(B, T, C)`` -> RNN -> ``(B, T, H)`` -> summary ``(B, H)``
    (``last``: output at the last step as in Choi et al. 2017; ``max``/``mean``: pooled over
    time) -> dropout -> Linear -> ``(B, n_tags)``. No initial state is passed, so the exported
    ONNX RNN/LSTM/GRU node has no batch-sized constant and the batch axis stays dynamic.
    """

    def __init__(
        self,
        cell: str,
        in_features: int,
        hidden: int,
        layers: int,
        n_tags: int,
        summary: str = "last",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in RNN_CELLS:
            raise ValueError(f"unknown recurrent cell {cell!r}; valid: {', '.join(RNN_CELLS)}")
        if summary not in SUMMARIES:
            raise ValueError(f"unknown summary {summary!r}; valid: {', '.join(SUMMARIES)}")
        self.summary = summary
        self.rnn = RNN_CELLS[cell](
            in_features,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, n_tags)

    @classmethod
    def from_config(cls, cell: str, in_features: int, config: Any, n_tags: int) -> RecurrentHead:
        """The head of a recurrent model whose config has ``hidden`` (scaled by ``width``),
        ``layers``, ``summary`` and ``dropout``."""
        return cls(
            cell,
            in_features,
            scaled(config.hidden, config.width),
            config.layers,
            n_tags,
            summary=config.summary,
            dropout=config.dropout,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.transpose(1, 2))  # (B, C, T) -> (B, T, C) -> (B, T, H)
        if self.summary == "last":
            z = out[:, -1]  # (B, H)
        elif self.summary == "max":
            z = out.amax(dim=1)  # (B, H)
        else:
            z = out.mean(dim=1)  # (B, H)
        return self.fc(self.dropout(z))  # (B, n_tags)
