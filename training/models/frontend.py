"""Spectrogram front-end computed inside the 2D models, with ops that run on ORT's CUDA provider.

``torch.stft`` exports to the ONNX ``STFT`` operator, which onnxruntime implements only on the CPU
execution provider (its CUDA provider library registers no STFT/DFT kernel), so a graph using it
would bounce to the CPU mid-inference. Here the STFT is a ``Conv1d`` whose fixed kernels are the
Hann-windowed DFT basis (real and imaginary parts, non-trainable buffers), followed by the power
``re^2 + im^2``, an optional mel filter-bank ``MatMul`` (torchaudio's ``melscale_fbanks``) and
``log(x + eps)``: the exported graph holds only Conv, Slice, Mul, Add, MatMul and Log.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import nn

from tagging.constants import SAMPLE_RATE

FRONTENDS = ("mel", "stft")


def dft_kernels(n_fft: int, window: torch.Tensor | None = None) -> torch.Tensor:
    """Hann-windowed one-sided DFT basis as conv weights ``(2 * (n_fft//2 + 1), 1, n_fft)``.

    ``window`` ``(n_fft,)`` replaces the periodic Hann window (e.g. a ported model's stored one).

    Rows ``[0, F)`` give the real part ``w[n] cos(2 pi k n / N)``, rows ``[F, 2F)`` the imaginary
    part ``-w[n] sin(2 pi k n / N)``, so ``conv1d(x, kernels, stride=hop)`` equals
    ``torch.stft(x, n_fft, hop, window=hann, center=False)`` (real and imaginary stacked).
    """
    n_freqs = n_fft // 2 + 1
    if window is None:
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)  # (N,)
    elif tuple(window.shape) != (n_fft,):
        raise ValueError(f"window must have shape ({n_fft},), got {tuple(window.shape)}")
    window = window.to(torch.float64)
    k = torch.arange(n_freqs, dtype=torch.float64)[:, None]  # (F, 1)
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]  # (1, N)
    angle = 2.0 * math.pi * k * n / n_fft  # (F, N)
    real = torch.cos(angle) * window
    imag = -torch.sin(angle) * window
    return torch.cat([real, imag], dim=0).unsqueeze(1).to(torch.float32)  # (2F, 1, N)


class LogSpectrogram(nn.Module):
    """Waveform ``(B, S)`` -> log power spectrogram ``(B, n_bins, T)``.

    ``kind="mel"``: ``n_bins = n_mels`` (log-mel, as Choi et al. 2017 and Won et al. 2020);
    ``kind="stft"``: ``n_bins = n_fft // 2 + 1`` (plain log STFT power, i.e. twice the log
    magnitude). ``T = 1 + (S - n_fft) // hop`` (no centre padding). Non-trainable: its buffers
    are rebuilt from the config, so they are not stored in checkpoints (``persistent=False``).
    """

    def __init__(
        self,
        kind: str = "mel",
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = 512,
        hop: int = 256,
        n_mels: int = 96,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if kind not in FRONTENDS:
            raise ValueError(f"unknown frontend {kind!r}; valid: {', '.join(FRONTENDS)}")
        if n_fft < 2 or hop < 1:
            raise ValueError("n_fft must be >= 2 and hop >= 1")
        self.kind = kind
        self.n_fft = n_fft
        self.hop = hop
        self.eps = eps
        self.n_freqs = n_fft // 2 + 1
        self.register_buffer("dft", dft_kernels(n_fft), persistent=False)  # (2F, 1, N)
        if kind == "mel":
            fb = AF.melscale_fbanks(
                n_freqs=self.n_freqs,
                f_min=f_min,
                f_max=float(f_max if f_max is not None else sample_rate / 2),
                n_mels=n_mels,
                sample_rate=sample_rate,
                norm=None,
                mel_scale="htk",
            )  # (F, M)
            self.register_buffer("mel_fb", fb.T.contiguous(), persistent=False)  # (M, F)
            self.n_bins = n_mels
        else:
            self.mel_fb = None
            self.n_bins = self.n_freqs

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(wave.unsqueeze(1), self.dft, stride=self.hop)  # (B, 2F, T)
        re, im = spec[:, : self.n_freqs], spec[:, self.n_freqs :]  # (B, F, T) each
        power = re * re + im * im  # (B, F, T)
        if self.mel_fb is not None:
            power = torch.matmul(self.mel_fb, power)  # (M, F) @ (B, F, T) -> (B, M, T)
        return torch.log(power + self.eps)  # (B, n_bins, T)
