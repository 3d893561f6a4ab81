"""The ports' power mel spectrogram with its DFT split in two, by Cooley & Tukey (1965).

:class:`training.models.pretrained.frontends.MelPower` computes each 512-point frame's DFT as
one convolution with 514 kernels of 512 taps (263k multiply-adds per frame). With
``n = P * n1 + n2`` and ``k = k1 + Q * k2`` (``Q = N / P`` points per phase, ``P`` phases)
the DFT of the windowed frame ``v`` is

    X[k1 + Q k2] = sum_n2 exp(-2 pi i n2 k / N) * Y[n2, k1],
    Y[n2, k1]    = sum_n1 v[P n1 + n2] exp(-2 pi i n1 k1 / Q),

so each frame costs ``P`` DFTs of ``Q`` points over its ``P`` interleaved phases (a grouped
convolution over the waveform cut into blocks of ``P`` samples, the window folded into its
kernels) and, per ``k1``, one small matrix product with the twiddle factors for the ``k2``
that keep ``k <= N / 2``: 51k multiply-adds per frame with ``P = 16``. The power
``re^2 + im^2`` is summed in that ``(k1, k2)`` order and the mel bank's columns are put in the
same order, so nothing is gathered back. Exported, it is Slice, Reshape, Transpose, a grouped
Conv, MatMul, Mul and ReduceSum, all with CUDA kernels; on this CPU the front-end runs 1.9x
faster (``python -m benchmarks.frontend_stft``) and its power agrees with the convolution's to
float32 rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PHASES = 16


def column_bins(n_fft: int, phases: int = PHASES) -> torch.Tensor:
    """The DFT bin ``k1 + Q k2`` at each column ``k1 * K2 + k2`` of the factored power and mel
    bank (``Q = n_fft / phases``, ``K2 = n_fft / 2 / Q + 1``); bins past ``n_fft / 2`` are
    columns the mel bank leaves at zero."""
    q = n_fft // phases
    k2s = (n_fft // 2) // q + 1
    return (torch.arange(q)[:, None] + q * torch.arange(k2s)[None, :]).reshape(-1)


class FactoredMelPower(nn.Module):
    """Waveform ``(B, S)`` -> power mel spectrogram ``(B, M, T)``, the values of
    ``MelPower(mel_fb, window, hop)`` (see the module docstring); ``T = 1 + (S - N) // hop``."""

    def __init__(
        self, mel_fb: torch.Tensor, window: torch.Tensor, hop: int, phases: int = PHASES
    ) -> None:
        super().__init__()
        n = int(window.shape[0])
        if n % phases or hop % phases:
            raise ValueError(f"n_fft {n} and hop {hop} must be multiples of {phases} phases")
        self.n_fft, self.hop, self.phases = n, int(hop), phases
        q = n // phases  # points of each phase's DFT (k1) and taps of its kernels (n1)
        self.k1s, self.k2s = q, (n // 2) // q + 1  # k = k1 + q * k2 <= n / 2
        bins = n // 2 + 1
        if tuple(mel_fb.shape[:1]) != (bins,):
            raise ValueError(f"mel_fb must be ({bins}, n_mels), got {tuple(mel_fb.shape)}")
        window = window.to(torch.float64)
        self.register_buffer("stage1", self._stage1(window, q), persistent=False)
        self.register_buffer("twiddle", self._twiddle(q, bins), persistent=False)
        self.register_buffer(
            "mel_fb", self._mel(mel_fb.to(torch.float64), q, bins), persistent=False
        )

    def _stage1(self, window: torch.Tensor, q: int) -> torch.Tensor:
        """``(P * Q * 2, 1, Q)``: per phase ``n2``, per ``k1``, the real then the imaginary
        kernel ``w[P n1 + n2] * (cos, -sin)(2 pi n1 k1 / Q)`` over ``n1``."""
        n1 = torch.arange(q, dtype=torch.float64)
        angle = 2.0 * math.pi * torch.outer(n1, n1) / q  # (k1, n1)
        w = window.reshape(q, self.phases).T  # (n2, n1): w[P n1 + n2]
        kernels = torch.stack(
            [w[:, None, :] * torch.cos(angle), -w[:, None, :] * torch.sin(angle)], dim=2
        )  # (n2, k1, 2, n1)
        return kernels.reshape(-1, 1, q).to(torch.float32)

    def _twiddle(self, q: int, bins: int) -> torch.Tensor:
        """``(Q, 2 * K2, 2 * P)``: per ``k1``, rows ``(re, im) x k2`` of
        ``X = sum_n2 exp(-i phi) (Yr + i Yi)``, ``phi = 2 pi n2 k / N``, over columns
        ``(n2, re/im)``; rows of ``k > N / 2`` are zero."""
        t = torch.zeros(q, 2, self.k2s, self.phases, 2, dtype=torch.float64)
        n2 = torch.arange(self.phases, dtype=torch.float64)
        for k1 in range(q):
            for k2 in range(self.k2s):
                k = k1 + q * k2
                if k >= bins:
                    continue
                phi = 2.0 * math.pi * n2 * k / self.n_fft
                cos, sin = torch.cos(phi), torch.sin(phi)
                t[k1, 0, k2, :, 0], t[k1, 0, k2, :, 1] = cos, sin  # Re X = cos Yr + sin Yi
                t[k1, 1, k2, :, 0], t[k1, 1, k2, :, 1] = -sin, cos  # Im X = cos Yi - sin Yr
        return t.reshape(q, 2 * self.k2s, 2 * self.phases).to(torch.float32)

    def _mel(self, mel_fb: torch.Tensor, q: int, bins: int) -> torch.Tensor:
        """``(M, Q * K2)``: the mel bank's column of bin ``k1 + Q k2`` at ``k1 * K2 + k2``."""
        k = column_bins(self.n_fft, self.phases)
        fb = torch.zeros(q * self.k2s, mel_fb.shape[1], dtype=torch.float64)
        valid = k < bins
        fb[valid] = mel_fb[k[valid]]
        return fb.T.contiguous().to(torch.float32)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        p, q, k2s = self.phases, self.k1s, self.k2s
        frames = 1 + (int(wave.shape[-1]) - self.n_fft) // self.hop
        used = (frames - 1) * self.hop + self.n_fft  # the samples the frames cover
        blocks = wave[:, :used].reshape(-1, used // p, p).transpose(1, 2)  # (B, P, S/P)
        y = F.conv1d(blocks, self.stage1, stride=self.hop // p, groups=p)  # (B, P*Q*2, T)
        y = y.reshape(-1, p, q, 2 * frames).transpose(1, 2)  # (B, Q, P, 2T): per k1
        y = y.reshape(-1, q, 2 * p, frames)  # (B, Q, (n2, re/im), T)
        x = torch.matmul(self.twiddle, y)  # (Q, 2K2, 2P) @ (B, Q, 2P, T) -> (B, Q, 2K2, T)
        power = (x * x).reshape(-1, q, 2, k2s * frames).sum(dim=2)  # re^2 + im^2: (B, Q, K2 T)
        return torch.matmul(self.mel_fb, power.reshape(-1, q * k2s, frames))  # (B, M, T)
