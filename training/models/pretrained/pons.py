"""musicnn and VGG of the musicnn package (Pons & Serra 2019), rebuilt to load its MTAT checkpoints.

Pons and Serra, "musicnn: pre-trained convolutional neural networks for music audio tagging",
ISMIR 2019 late-breaking demo (package ``musicnn`` 0.1.0, ISC licence); the musicnn architecture is
Pons, Nieto, Prockup, Schmidt, Ehmann and Serra, "End-to-end learning for music audio tagging at
scale", ISMIR 2018. Both networks take a 187-frame patch (about 3 s) of the package's log-mel:

* librosa ``melspectrogram`` of the 16 kHz signal: ``n_fft`` 512, hop 256, periodic Hann window,
  power 2, 96 Slaney-scale bands with Slaney (area) normalisation up to 8 kHz, ``center=True``
  (zero padding of ``n_fft // 2`` at both ends of the *whole clip*; see
  :class:`tagging.clips.ClipRule`);
* cast to float16 (the package stores it so), then ``log10(10000 x + 1)`` in float32 (numpy 1
  promotes ``10000 * float16`` to float32);
* a ``BatchNormalization`` on the single input channel.

A waveform chunk of :data:`PATCH_SAMPLES` = 48,128 samples (``(187 - 1) * 256 + 512``) gives
exactly one patch (frames without centre padding); patch ``k`` of a clip is the chunk starting at
``k * 47872`` in the clip padded by 256 zeros at its start. TensorFlow's batch norm uses
epsilon 1e-3 and its layers apply ReLU *before* batch norm; both are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import nn

from training.models.layers import check_wave
from training.models.pretrained.frontends import MelPower
from training.models.pretrained.tf_checkpoint import read_checkpoint
from training.models.pretrained.vertical import VerticalMax

SAMPLE_RATE, N_FFT, HOP, N_MELS, N_FRAMES = 16_000, 512, 256, 96, 187
PATCH_SAMPLES = (N_FRAMES - 1) * HOP + N_FFT  # 48128
PATCH_HOP = N_FRAMES * HOP  # 47872: non-overlapping patches
TF_BN_EPS = 1e-3
"""``tf.compat.v1.layers.batch_normalization``'s default epsilon."""


def slaney_mel_fb() -> torch.Tensor:
    """librosa's default mel filterbank ``(257, 96)``: Slaney scale, Slaney norm, 0-8 kHz."""
    return AF.melscale_fbanks(
        n_freqs=N_FFT // 2 + 1,
        f_min=0.0,
        f_max=SAMPLE_RATE / 2,
        n_mels=N_MELS,
        sample_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )


class PonsFrontend(nn.Module):
    """Waveform ``(B, 48128)`` -> normalised log-mel patch ``(B, 1, 187, 96)`` (time, mel)."""

    def __init__(self) -> None:
        super().__init__()
        self.mel = MelPower(slaney_mel_fb(), torch.hann_window(N_FFT, periodic=True), HOP)
        self.bn = nn.BatchNorm2d(1, eps=TF_BN_EPS)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        check_wave(wave)
        power = self.mel(wave).to(torch.float16).to(torch.float32)  # (B, 96, T), float16 grid
        logmel = torch.log10(10000.0 * power + 1.0)  # "logC" compression
        return self.bn(logmel.transpose(1, 2).unsqueeze(1))  # (B, 1, T, 96)


class MaxOverFreq(nn.Module):
    """The maximum over the last (frequency) axis: ``(B, C, T, F)`` -> ``(B, C, T)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=3)


class ConvReLUBN(nn.Module):
    """TF-style conv layer: Conv2d -> ReLU -> BN (eps 1e-3), with explicit ``(top, bottom)`` time
    padding (TF ``same`` pads an even kernel one more frame at the end), then ``pool``, a
    maximum over windows (max-pooling, or the maximum over frequency), if given.

    With a pool the layer computes the same values in a cheaper order,
    ``BN(ReLU(s * pool(s * conv(x))))``, where ``s`` is the sign of each channel's BN scale
    (gamma / sqrt(var + eps)): ReLU and the BN's per-channel affine map are monotone, so the
    maximum of ``BN(ReLU(z))`` over a window is ``BN(ReLU(max z))`` where the scale is positive
    and ``BN(ReLU(min z))`` where it is negative, and ``min z = -max(-z)``, the negated filters'
    maximum (``s`` is folded into the filters when the graph is exported). In floating point too:
    rounding is monotone and negation exact. ReLU and BN then run on the pooled map, 4x (VGG's
    first pool) to 96x (a maximum over 96 bands) fewer elements than the convolution's output.

    For a vertical filter bank (one input channel, several bands, the maximum over frequency),
    :meth:`freeze` (once the weights are final) computes ``pool(s * conv(x))`` through a DFT
    over frequency instead (:class:`~training.models.pretrained.vertical.VerticalMax`): the
    same sums, fp32 rounding aside.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: tuple[int, int],
        time_pad=(0, 0),
        freq_pad=0,
        pool: nn.Module | None = None,
    ):
        super().__init__()
        self.pad = (freq_pad, freq_pad, *time_pad)  # F.pad order: last dim first
        self.conv = nn.Conv2d(c_in, c_out, kernel)
        self.bn = nn.BatchNorm2d(c_out, eps=TF_BN_EPS)
        self.pool = pool
        self.vertical: VerticalMax | None = None

    def freeze(self, n_freq: int = N_MELS) -> None:
        """Compute this vertical filter bank through :class:`VerticalMax` from now on (built
        from the current weights; later weight changes are not seen)."""
        w = self.conv.weight.detach()
        if w.shape[1] != 1 or not isinstance(self.pool, MaxOverFreq) or self.pad[:2] != (0, 0):
            raise ValueError("only a one-channel, unpadded-in-frequency bank with MaxOverFreq")
        s = self._sign()
        bank = (w[:, 0] * s[:, None, None]).transpose(1, 2)  # (C, f, k): frequency, time
        self.vertical = VerticalMax(bank, self.conv.bias.detach() * s, n_freq)

    def _sign(self) -> torch.Tensor:
        return torch.where(self.bn.weight.detach() < 0, -1.0, 1.0)  # (C,): the BN scale's sign

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pad)
        if self.pool is None:
            return self.bn(F.relu(self.conv(x)))
        s = self._sign()
        if self.vertical is not None:
            m = self.vertical(x[:, 0].transpose(1, 2))  # (B, T + k - 1, F) -> (B, C, T)
        else:
            z = F.conv2d(x, self.conv.weight * s[:, None, None, None], self.conv.bias * s)
            m = self.pool(z)  # (B, C, ...) pooled
        m = m * s.reshape(1, -1, *([1] * (m.dim() - 2)))  # max z (s = 1), min z (s = -1)
        bn = self.bn
        return F.batch_norm(
            F.relu(m), bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
        )


class MidendConv(nn.Module):
    """Mid-end layer: conv over time (7 frames, all channels) -> ReLU -> BN; ``(B,C,T)`` -> ``(B,64,T)``."""

    def __init__(self, c_in: int, c_out: int = 64, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(c_out, eps=TF_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class PonsMusicnn(nn.Module):
    """musicnn, MTAT model (``MTT_musicnn``): ``(B, 48128)`` -> logits ``(B, 50)``.

    Front-end on the ``(B, 1, 187, 96)`` log-mel: timbral convs 204 x (7 frames, 38 bands) and
    204 x (7, 67) (40 % and 70 % of the bands; time padded 3 + 3) and temporal convs 51 x (128,
    64, 32 frames, 1 band) with ``same`` padding, each max-pooled over frequency, concatenated to
    ``(B, 561, 187)``. Mid-end: three 64-channel conv layers over 7 frames, the last two
    residual; all four feature maps concatenated ``(B, 753, 187)``. Back-end: max and mean over
    time, interleaved per channel as TF flattens ``(753, 2)`` -> ``(B, 1506)``; BN, dense 200
    + ReLU, BN, dense 50.
    """

    TIMBRAL = (38, 67)  # int(0.4 * 96), int(0.7 * 96)
    TEMPORAL = (128, 64, 32)

    def __init__(self, n_tags: int = 50) -> None:
        super().__init__()
        self.frontend = PonsFrontend()
        self.timbral = nn.ModuleList(
            [ConvReLUBN(1, 204, (7, f), (3, 3), pool=MaxOverFreq()) for f in self.TIMBRAL]
        )
        self.temporal = nn.ModuleList(
            [
                ConvReLUBN(1, 51, (k, 1), ((k - 1) // 2, k // 2), pool=MaxOverFreq())
                for k in self.TEMPORAL
            ]
        )
        front = 2 * 204 + 3 * 51  # 561
        self.midend = nn.ModuleList([MidendConv(front), MidendConv(64), MidendConv(64)])
        self.pool_bn = nn.BatchNorm1d(2 * (front + 3 * 64), eps=TF_BN_EPS)
        self.dense = nn.Linear(2 * (front + 3 * 64), 200)
        self.dense_bn = nn.BatchNorm1d(200, eps=TF_BN_EPS)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(200, n_tags)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.frontend(wave)  # (B, 1, 187, 96)
        branches = [*self.timbral, *self.temporal]
        front = torch.cat([b(x) for b in branches], dim=1)  # max over freq: (B, 561, 187)
        feats = [front, self.midend[0](front)]  # + (B, 64, 187)
        for layer in self.midend[1:]:
            feats.append(layer(feats[-1]) + feats[-1])  # residual
        h = torch.cat(feats, dim=1)  # (B, 753, 187)
        pooled = torch.stack([h.amax(dim=2), h.mean(dim=2)], dim=2).flatten(1)  # (B, 1506)
        z = self.dense_bn(F.relu(self.dense(self.dropout(self.pool_bn(pooled)))))  # (B, 200)
        return self.out(self.dropout(z))  # (B, 50)


class PonsVGG(nn.Module):
    """VGG-like 2D CNN of the musicnn package, MTAT model (``MTT_vgg``): ``(B, 48128)`` -> ``(B, 50)``.

    Five 128-channel 3x3 conv (``same``) -> ReLU -> BN -> max-pool layers on the ``(187, 96)``
    patch: pools (4,1)/stride 2, 2x2, 2x2, 2x2, 4x4 -> ``(B, 128, 2, 1)``; flattened in TF's
    (time, freq, channel) order to 256, then a dense layer to 50 logits.
    """

    POOLS = (
        ((4, 1), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((4, 4), (4, 4)),
    )

    def __init__(self, n_tags: int = 50, channels: int = 128) -> None:
        super().__init__()
        self.frontend = PonsFrontend()
        c_in = (1, *(channels,) * 4)
        self.convs = nn.ModuleList(
            [
                ConvReLUBN(c, channels, (3, 3), (1, 1), freq_pad=1, pool=nn.MaxPool2d(k, s))
                for c, (k, s) in zip(c_in, self.POOLS, strict=True)
            ]
        )
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(2 * 1 * channels, n_tags)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.frontend(wave)  # (B, 1, 187, 96)
        for conv in self.convs:
            x = conv(x)  # conv, ReLU, BN, max-pool -> (B,128,92,48) (46,24) (23,12) (11,6) (2,1)
        return self.out(self.dropout(x.permute(0, 2, 3, 1).flatten(1)))  # (B, 256) -> (B, 50)


# ------------------------------------------------------------------- TF checkpoint -> modules
def _bn(tf: Mapping[str, np.ndarray], scope: str) -> dict[str, np.ndarray]:
    """TF batch-norm variables under ``scope`` -> torch BatchNorm names."""
    return {
        "weight": tf[f"{scope}/gamma"],
        "bias": tf[f"{scope}/beta"],
        "running_mean": tf[f"{scope}/moving_mean"],
        "running_var": tf[f"{scope}/moving_variance"],
    }


def _conv2d(kernel: np.ndarray) -> np.ndarray:
    """TF conv2d kernel ``(kh, kw, in, out)`` -> torch ``(out, in, kh, kw)``."""
    return kernel.transpose(3, 2, 0, 1)


def _conv1d(kernel: np.ndarray) -> np.ndarray:
    """TF conv2d kernel ``(k, C, 1, out)`` sliding over time only -> torch Conv1d ``(out, C, k)``."""
    return kernel[:, :, 0, :].transpose(2, 1, 0)


def _assign(model: nn.Module, values: Mapping[str, np.ndarray]) -> nn.Module:
    """Load ``values`` (torch names) strictly; shapes must match exactly."""
    state = model.state_dict()
    expected = {k for k in state if not k.endswith("num_batches_tracked")}
    if set(values) != expected:
        raise ValueError(
            f"weights do not fit: missing {sorted(expected - set(values))}, "
            f"unexpected {sorted(set(values) - expected)}"
        )
    for key, value in values.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise ValueError(f"{key}: checkpoint {value.shape} vs model {tuple(state[key].shape)}")
        state[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    model.load_state_dict(state)
    return model.eval()


def _prefixed(prefix: str, d: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}.{k}": v for k, v in d.items()}


def musicnn_from_tf(tf: Mapping[str, np.ndarray]) -> PonsMusicnn:
    """:class:`PonsMusicnn` from ``MTT_musicnn`` variables (TF1 layer names in creation order:
    input BN; conv2d/BN_1 (38), conv2d_1/BN_2 (67), conv2d_2..4/BN_3..5 (temporal 128, 64, 32),
    conv2d_5..7/BN_6..8 (mid-end), BN_9 (pooled), dense/BN_10, dense_1)."""
    model = PonsMusicnn()
    v: dict[str, np.ndarray] = _prefixed("frontend.bn", _bn(tf, "batch_normalization"))
    for i, branch in enumerate(
        ["timbral.0", "timbral.1", "temporal.0", "temporal.1", "temporal.2"]
    ):
        v[f"{branch}.conv.weight"] = _conv2d(tf[f"conv2d{_suffix(i)}/kernel"])
        v[f"{branch}.conv.bias"] = tf[f"conv2d{_suffix(i)}/bias"]
        v.update(_prefixed(f"{branch}.bn", _bn(tf, f"batch_normalization_{i + 1}")))
    for j in range(3):
        v[f"midend.{j}.conv.weight"] = _conv1d(tf[f"conv2d_{5 + j}/kernel"])
        v[f"midend.{j}.conv.bias"] = tf[f"conv2d_{5 + j}/bias"]
        v.update(_prefixed(f"midend.{j}.bn", _bn(tf, f"batch_normalization_{6 + j}")))
    v.update(_prefixed("pool_bn", _bn(tf, "batch_normalization_9")))
    v.update({"dense.weight": tf["dense/kernel"].T, "dense.bias": tf["dense/bias"]})
    v.update(_prefixed("dense_bn", _bn(tf, "batch_normalization_10")))
    v.update({"out.weight": tf["dense_1/kernel"].T, "out.bias": tf["dense_1/bias"]})
    return _assign(model, v)


def vgg_from_tf(tf: Mapping[str, np.ndarray]) -> PonsVGG:
    """:class:`PonsVGG` from ``MTT_vgg`` variables (input BN; ``{i}CNN`` with BN_i; ``dense``)."""
    model = PonsVGG()
    v: dict[str, np.ndarray] = _prefixed("frontend.bn", _bn(tf, "batch_normalization"))
    for i in range(5):
        v[f"convs.{i}.conv.weight"] = _conv2d(tf[f"{i + 1}CNN/kernel"])
        v[f"convs.{i}.conv.bias"] = tf[f"{i + 1}CNN/bias"]
        v.update(_prefixed(f"convs.{i}.bn", _bn(tf, f"batch_normalization_{i + 1}")))
    v.update({"out.weight": tf["dense/kernel"].T, "out.bias": tf["dense/bias"]})
    return _assign(model, v)


def _suffix(i: int) -> str:
    return "" if i == 0 else f"_{i}"


def build_musicnn(prefix: str | Path) -> nn.Module:
    """:class:`PonsMusicnn` from the checkpoint bundle ``prefix`` (``.../MTT_musicnn/``), its
    timbral banks computed through the DFT over frequency (:meth:`ConvReLUBN.freeze`) and its
    mel front-end's DFT split in two (:meth:`MelPower.factored`)."""
    model = musicnn_from_tf(read_checkpoint(_bundle_prefix(prefix)))
    for bank in model.timbral:
        bank.freeze()
    model.frontend.mel = model.frontend.mel.factored()
    return model


def build_vgg(prefix: str | Path) -> nn.Module:
    """:class:`PonsVGG` from the checkpoint bundle ``prefix`` (``.../MTT_vgg/``), its mel
    front-end's DFT split in two (:meth:`MelPower.factored`)."""
    model = vgg_from_tf(read_checkpoint(_bundle_prefix(prefix)))
    model.frontend.mel = model.frontend.mel.factored()
    return model


def _bundle_prefix(prefix: str | Path) -> str:
    """A checkpoint directory saved as ``<dir>/`` (files ``<dir>/.index``) -> ``"<dir>/"``."""
    p = Path(prefix)
    return f"{p}/" if p.is_dir() else str(p)
