"""Mel front-ends of the ported taggers, inside the graph with ops onnxruntime's CUDA provider runs.

Both originals compute a power mel spectrogram from a Hann-windowed 512-point STFT with hop 256;
they differ in padding, filterbank and compression. The STFT here is the project's conv-DFT
(:func:`training.models.frontend.dft_kernels`); the ports are exported with it split in two
(:meth:`MelPower.factored`, :mod:`training.models.pretrained.factored`). Either way the graph
holds Conv, MatMul and elementwise ops, never the CPU-only ``STFT``/``DFT`` operators.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.models.frontend import dft_kernels
from training.models.pretrained.factored import FactoredMelPower


class MelPower(nn.Module):
    """Waveform ``(B, S)`` -> power mel spectrogram ``(B, M, T)``, ``T = 1 + (S - n_fft) // hop``.

    No centre padding here: a model that pads (torchaudio, librosa ``center=True``) does so
    before calling this. ``mel_fb`` is ``(F, M)`` with ``F = n_fft // 2 + 1`` (torchaudio's and
    librosa's transposed layout); ``window`` is the analysis window ``(n_fft,)``.
    """

    def __init__(self, mel_fb: torch.Tensor, window: torch.Tensor, hop: int) -> None:
        super().__init__()
        n_fft = int(window.shape[0])
        self.n_freqs = n_fft // 2 + 1
        if tuple(mel_fb.shape[:1]) != (self.n_freqs,):
            raise ValueError(f"mel_fb must be ({self.n_freqs}, n_mels), got {tuple(mel_fb.shape)}")
        self.n_fft, self.hop = n_fft, int(hop)
        self.register_buffer("dft", dft_kernels(n_fft, window), persistent=False)  # (2F, 1, N)
        fb = mel_fb.to(torch.float32).T.contiguous()
        self.register_buffer("mel_fb", fb, persistent=False)  # (M, F)

    def factored(self) -> FactoredMelPower:
        """The same spectrogram with its DFT split in two (Cooley & Tukey), the form the ports
        are exported in (:mod:`training.models.pretrained.factored`)."""
        window = self.dft[0, 0]  # bin 0's real kernel: w[n] cos(0), the window itself
        return FactoredMelPower(self.mel_fb.T, window, self.hop)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = F.conv1d(wave.unsqueeze(1), self.dft, stride=self.hop)  # (B, 2F, T)
        re, im = spec[:, : self.n_freqs], spec[:, self.n_freqs :]  # (B, F, T) each
        return torch.matmul(self.mel_fb, re * re + im * im)  # (M, F) @ (B, F, T) -> (B, M, T)


def reflect_center(wave: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``torch.stft(center=True, pad_mode="reflect")`` padding: ``n_fft // 2`` mirrored samples
    at both ends of ``(B, S)`` (ONNX ``Pad`` mode ``reflect``, which the CUDA provider runs)."""
    half = n_fft // 2
    # [:, 0] (a Gather) rather than squeeze(1), which exports to an ONNX If on the batch size
    return F.pad(wave.unsqueeze(1), (half, half), mode="reflect")[:, 0]  # (B, S + n_fft)
