"""Raw-waveform (1D) architectures: SampleCNN, SampleCNN + RNN/LSTM/GRU, and a chunked SampleCNN.

All three families share :class:`SampleCNNFront` (Lee et al. 2017, "Sample-level deep
convolutional neural networks for music auto-tagging using raw waveforms"): a strided first
convolution (kernel 3, stride 3) followed by blocks of conv3 + BN + ReLU + maxpool3, each block
dividing the time axis by 3. Channel counts follow the paper's 3^9 model, scaled by ``width``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.models.layers import ConvBlock1d, RecurrentHead, check_wave, pad_to_min, scaled

BASE_CHANNELS = (128, 128, 256, 256, 256, 256, 256, 512)
"""Output channels of the pooled blocks (the first strided conv has 128), Lee et al. 2017."""


class SampleCNNFront(nn.Module):
    """``(B, 1, S)`` -> strided conv -> ``n_blocks`` x (conv3 BN ReLU pool3) -> ``(B, C, S / 3^(n+1))``.

    With the default 59,049-sample input (3^10): strided conv ``(B, 128w, 19683)``, then each block
    divides time by 3; after 6 blocks ``(B, 256w, 27)``. ``pool_last=False`` leaves the last
    block unpooled (8 blocks: ``(B, 512w, 9)``), so 1 s of audio still fits without padding.
    """

    def __init__(self, n_blocks: int, width: float, pool_last: bool = True) -> None:
        super().__init__()
        if not 1 <= n_blocks <= len(BASE_CHANNELS):
            raise ValueError(f"n_blocks must be in 1..{len(BASE_CHANNELS)}")
        c0 = scaled(128, width)
        self.stem = nn.Sequential(
            nn.Conv1d(1, c0, kernel_size=3, stride=3, bias=False),  # (B, 1, S) -> (B, c0, S/3)
            nn.BatchNorm1d(c0),
            nn.ReLU(),
        )
        chans = [c0, *(scaled(c, width) for c in BASE_CHANNELS[:n_blocks])]
        pools = [3] * (n_blocks - 1) + [3 if pool_last else 1]
        self.blocks = nn.Sequential(
            *(ConvBlock1d(a, b, p) for a, b, p in zip(chans[:-1], chans[1:], pools, strict=True))
        )
        self.out_channels = chans[-1]
        n_pools = sum(p > 1 for p in pools)
        self.min_samples = 3 ** (n_pools + 1)  # shortest input that leaves >= 1 time step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


@dataclass
class CNN1DConfig:
    width: float = 1.0
    dropout: float = 0.5


class SampleCNN(nn.Module):
    """``cnn1d``: sample-level 1D CNN on raw samples (Lee et al. 2017).

    Shape flow (default 59,049 samples, width w):
    ``(B, 59049)`` -> ``(B, 1, 59049)`` -> strided conv3/3 ``(B, 128w, 19683)`` -> 7 blocks
    conv3+BN+ReLU+maxpool3 ``(B, 256w, 9)`` -> an 8th block without pooling ``(B, 512w, 9)`` ->
    global max over time ``(B, 512w)`` -> dropout -> Linear ``(B, n_tags)``. Global pooling
    replaces the paper's fixed final length (its 3^9 model pools down to 1 step), so any input of
    at least 3^8 = 6,561 samples (0.41 s) works; shorter input is zero-padded.
    """

    def __init__(self, n_tags: int, config: CNN1DConfig) -> None:
        super().__init__()
        self.front = SampleCNNFront(8, config.width, pool_last=False)
        self.min_samples = self.front.min_samples
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(self.front.out_channels, n_tags)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        check_wave(wave)
        x = pad_to_min(wave, self.min_samples).unsqueeze(1)  # (B, 1, S)
        x = self.front(x)  # (B, C, T)
        x = x.amax(dim=2)  # (B, C): global max pooling over time
        return self.fc(self.dropout(x))  # (B, n_tags)


@dataclass
class CNN1DRNNConfig:
    width: float = 1.0
    dropout: float = 0.3
    hidden: int = 256
    layers: int = 2
    # Max over the RNN's outputs rather than Choi et al.'s last step: on the quick synthetic
    # benchmark the last-step LSTMs learned far less (test macro ROC-AUC cnn1d_lstm 0.73 -> 0.87,
    # cnn2d_lstm 0.82 -> 0.85 with "max"); "last" and "mean" remain available.
    summary: str = "max"


class SampleCNNRNN(nn.Module):
    """``cnn1d_rnn`` / ``cnn1d_lstm`` / ``cnn1d_gru``: SampleCNN front + recurrent layer.

    The SampleCNN front of Lee et al. 2017 (6 of its pooled blocks, so that the sequence keeps
    ~27 steps of 137 ms for a 3.69 s input) feeds a batch-first nn.RNN/LSTM/GRU over the CNN's
    time axis, in the spirit of the convolutional-recurrent models of Choi et al. 2017.
    Shape flow (59,049 samples, width w): ``(B, 59049)`` -> ``(B, 1, 59049)`` -> front
    ``(B, 256w, 27)`` -> RNN over 27 steps ``(B, 27, H)`` -> summary (max over time by default)
    ``(B, H)`` -> dropout -> Linear ``(B, n_tags)``, with ``H = hidden * w``.
    """

    def __init__(self, n_tags: int, config: CNN1DRNNConfig, cell: str) -> None:
        super().__init__()
        self.front = SampleCNNFront(6, config.width)
        self.min_samples = self.front.min_samples
        self.head = RecurrentHead.from_config(cell, self.front.out_channels, config, n_tags)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        check_wave(wave)
        x = pad_to_min(wave, self.min_samples).unsqueeze(1)  # (B, 1, S)
        x = self.front(x)  # (B, C, T)
        return self.head(x)  # (B, n_tags)


@dataclass
class ChunkCNN1DConfig:
    width: float = 1.0
    dropout: float = 0.5
    window_samples: int = 8_000
    """Length of the short chunks the CNN sees (0.5 s at 16 kHz; 1 s inputs are two chunks)."""


class ChunkCNN1D(nn.Module):
    """``chunk_cnn1d``: a SampleCNN (Lee et al. 2017) applied to short chunks, max over chunks.

    The input is cut into ``n = ceil(S / W)`` chunks of ``W = window_samples`` (0.5 s): the
    ``S // W`` consecutive ones plus, when ``W`` does not divide ``S``, one more aligned to the
    end (overlapping, no zero padding). Chunks are folded into the batch axis, analysed
    independently (short receptive field, as in the short-chunk training of Won et al. 2020),
    embedded, and reduced with global max pooling over chunks.
    Shape flow (59,049 samples, W = 8,000, width w): ``(B, 59049)`` -> chunks ``(B, 8, 8000)``
    (7 consecutive + 1 aligned to the end) -> ``(8B, 1, 8000)`` -> strided conv
    ``(8B, 128w, 2666)`` -> 6 blocks ``(8B, 256w, 3)`` -> max over time ``(8B, 256w)`` ->
    Linear+ReLU chunk embedding ``(8B, 256w)`` -> ``(B, 8, 256w)`` -> max over chunks
    ``(B, 256w)`` -> dropout -> Linear ``(B, n_tags)``.
    """

    def __init__(self, n_tags: int, config: ChunkCNN1DConfig) -> None:
        super().__init__()
        self.front = SampleCNNFront(6, config.width)
        if config.window_samples < self.front.min_samples:
            raise ValueError(f"window_samples must be at least {self.front.min_samples}")
        self.window = int(config.window_samples)
        self.min_samples = self.window
        c = self.front.out_channels
        self.embed = nn.Sequential(nn.Linear(c, c), nn.ReLU())
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(c, n_tags)

    def chunks(self, wave: torch.Tensor) -> torch.Tensor:
        """``(B, S)`` -> ``(B, n, W)``; static slicing only (S is fixed in an exported graph)."""
        n_samples = int(wave.shape[1])
        k = n_samples // self.window
        x = wave[:, : k * self.window].reshape(-1, k, self.window)  # (B, k, W)
        if k * self.window < n_samples:
            tail = wave[:, n_samples - self.window :].unsqueeze(1)  # (B, 1, W)
            x = torch.cat([x, tail], dim=1)  # (B, k+1, W)
        return x

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        check_wave(wave)
        x = self.chunks(pad_to_min(wave, self.min_samples))  # (B, n, W)
        n = x.shape[1]
        x = x.reshape(-1, 1, self.window)  # (B*n, 1, W): chunks folded into the batch
        x = self.front(x).amax(dim=2)  # (B*n, C)
        x = self.embed(x).reshape(-1, n, self.fc.in_features)  # (B, n, C)
        x = x.amax(dim=1)  # (B, C): global max pooling over chunks
        return self.fc(self.dropout(x))  # (B, n_tags)
