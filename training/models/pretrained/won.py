"""FCN and Musicnn as trained on MTAT by Won et al. 2020, rebuilt to load their published weights.

Won, Ferraro, Bogdanov and Serra, "Evaluation of CNN-based automatic music tagging models",
SMC 2020 (code: minzwon/sota-music-tagging-models, MIT). Both networks share its front-end:
torchaudio ``MelSpectrogram`` (16 kHz, n_fft 512, hop 256, ``center=True`` with reflect padding,
periodic Hann window, power 2, 96 HTK mel bands to 8 kHz without normalisation), then
``AmplitudeToDB`` (``10 log10(max(x, 1e-10))``) and a ``BatchNorm2d(1)``. Window and filterbank
are stored in the state_dict and used as stored.

* :class:`WonFCN` is the fully convolutional network of Choi, Fazekas and Sandler, "Automatic
  tagging using deep convolutional neural networks", ISMIR 2016: five conv3x3-BN-ReLU-maxpool
  blocks shrink the 96 x 1813 log-mel of a 29-s input to 1 x 1, then a linear layer.
* :class:`WonMusicnn` is Won's re-implementation of Pons and Serra's musicnn (Pons et al.,
  "End-to-end learning for music audio tagging at scale", ISMIR 2018): timbral (vertical) and
  temporal (horizontal) convolutions on 3-s log-mels, a residual 1D back-end, max+mean pooling
  over time and a two-layer dense head.

Both return logits; the published models end in a sigmoid, which the export adds back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from training.models.layers import ConvBlock2d, check_wave
from training.models.pretrained.frontends import MelPower, reflect_center
from training.models.pretrained.vertical import VerticalMax

N_FFT, HOP, N_MELS = 512, 256, 96
FCN_SAMPLES = 29 * 16_000
"""FCN input: 29 s at 16 kHz (upstream ``eval.py``: ``input_length = 29 * 16000``)."""
MUSICNN_SAMPLES = 3 * 16_000
"""Musicnn input: 3 s at 16 kHz (upstream ``eval.py``)."""
FRONTEND_KEYS = {"spec.spectrogram.window": "window", "spec.mel_scale.fb": "mel_fb"}


class WonFrontend(nn.Module):
    """Waveform ``(B, S)`` -> batch-normalised dB mel ``(B, 1, 96, 1 + S // 256)``."""

    def __init__(self, window: torch.Tensor, mel_fb: torch.Tensor) -> None:
        super().__init__()
        self.mel = MelPower(mel_fb, window, HOP)
        self.spec_bn = nn.BatchNorm2d(1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        power = self.mel(reflect_center(wave, N_FFT))  # (B, 96, T)
        db = 10.0 * torch.log10(torch.clamp(power, min=1e-10))  # AmplitudeToDB, ref 1, no top_db
        return self.spec_bn(db.unsqueeze(1))  # (B, 1, 96, T)


class TimeTiledConvBlock(ConvBlock2d):
    """:class:`ConvBlock2d` (conv 3x3 -> BN -> ReLU -> max-pool) computed in ``tiles`` pieces
    along time, with the same values: each piece convolves its own frames plus the one on each
    side that the 3x3 kernel reaches (zeros at the ends, as the conv's padding), and ends on a
    pool boundary. Only one piece's full-resolution conv output exists at a time, so
    onnxruntime reuses one buffer a quarter the size: for FCN's first block on a 29-s input
    (64 x 96 x 1813 floats, 45 MB) peak memory drops by about 70 MB for two concurrent runs
    (docs/ARCHITECTURE.md, "Measured design choices").
    """

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int], tiles: int) -> None:
        super().__init__(c_in, c_out, pool, bias=True)
        self.conv.padding = (1, 0)  # time is padded once, before the pieces are cut
        self.tiles = tiles

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = self.pool.kernel_size[1]
        n_out = int(x.shape[-1]) // step  # pooled frames (a trailing partial window drops)
        tiles = max(1, min(self.tiles, n_out))
        bounds = [round(i * n_out / tiles) for i in range(tiles + 1)]
        padded = F.pad(x, (1, 1))  # (B, C, F, T + 2)
        pieces = [
            self.pool(F.relu(self.bn(self.conv(padded[..., step * a : step * b + 2]))))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return torch.cat(pieces, dim=-1)  # (B, Co, F / pf, T // pt)


class WonFCN(nn.Module):
    """FCN (Choi et al. 2016) with Won et al.'s MTAT weights: ``(B, 464000)`` -> logits ``(B, 50)``.

    Pools (freq, time) per block: (2,4) (2,4) (2,4) (3,5) (4,4), so 96 x 1813 -> 1 x 1 for the
    29-s input (96 = 2*2*2*3*4; 1813 // 4 // 4 // 4 // 5 // 4 = 1). Channels 64-128-128-128-64.
    The first block runs in four pieces along time (:class:`TimeTiledConvBlock`: the same
    values in a quarter of the memory).
    """

    POOLS = ((2, 4), (2, 4), (2, 4), (3, 5), (4, 4))
    CHANNELS = (1, 64, 128, 128, 128, 64)

    def __init__(self, window: torch.Tensor, mel_fb: torch.Tensor, n_tags: int = 50) -> None:
        super().__init__()
        self.frontend = WonFrontend(window, mel_fb)
        c = self.CHANNELS
        self.blocks = nn.Sequential(
            TimeTiledConvBlock(c[0], c[1], self.POOLS[0], tiles=4),
            *(
                ConvBlock2d(c[i], c[i + 1], pool, bias=True)
                for i, pool in enumerate(self.POOLS)
                if i > 0
            ),
        )
        self.dropout = nn.Dropout(0.5)
        self.dense = nn.Linear(c[-1], n_tags)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        check_wave(wave)
        x = self.blocks(self.frontend(wave))  # (B, 64, 1, 1) for 29 s
        return self.dense(self.dropout(x.flatten(1)))  # (B, 64) -> (B, 50)


class TimbralConv(nn.Module):
    """Vertical filter (Pons et al. 2017): conv ``(f, 7)`` over the mel axis, BN, ReLU, max over
    frequency. ``(B, 1, 96, T)`` -> ``(B, C, T)``.

    :meth:`freeze` (once the weights are final) switches to the same values computed through a
    DFT over frequency (:class:`~training.models.pretrained.vertical.VerticalMax`), with the
    maximum taken before BN and ReLU: both are monotone per channel, so the maximum of
    ``ReLU(BN(z))`` is ``ReLU(BN(s max(s z)))``, ``s`` the sign of the channel's BN scale.
    """

    def __init__(self, channels: int, height: int, width: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, channels, (height, width), padding=(0, width // 2))
        self.bn = nn.BatchNorm2d(channels)
        self.vertical: VerticalMax | None = None

    def freeze(self) -> None:
        """Build the DFT form from the current weights (later weight changes are not seen)."""
        s = self._sign()[:, None, None]
        w = self.conv.weight.detach()[:, 0] * s  # (C, f, 7)
        self.vertical = VerticalMax(w, self.conv.bias.detach() * s[:, 0, 0], N_MELS)

    def _sign(self) -> torch.Tensor:
        return torch.where(self.bn.weight.detach() < 0, -1.0, 1.0)  # (C,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.vertical is None:
            y = F.relu(self.bn(self.conv(x)))  # (B, C, 96 - f + 1, T)
            return y.amax(dim=2)  # (B, C, T)
        pad = self.conv.padding[1]
        m = self.vertical(F.pad(x[:, 0], (pad, pad))) * self._sign()[:, None]  # (B, C, T)
        bn = self.bn
        return F.relu(
            F.batch_norm(m, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        )


class TemporalConv(nn.Module):
    """Horizontal filter (Pons et al. 2017): mean over frequency, then a long 1D conv over time,
    BN, ReLU. ``(B, 1, 96, T)`` -> ``(B, C, T)``."""

    def __init__(self, channels: int, length: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, channels, length, padding=length // 2)
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x.mean(dim=2))))  # (B, 1, T) -> (B, C, T)


class Conv1dBNReLU(nn.Module):
    """Back-end layer: conv1d (same padding) -> BN -> ReLU. ``(B, Ci, T)`` -> ``(B, Co, T)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class WonMusicnn(nn.Module):
    """Musicnn (Pons et al. 2018) as re-implemented by Won et al. 2020, MTAT configuration.

    ``(B, 48000)`` -> log-mel ``(B, 1, 96, 188)`` -> front-end: timbral convs 204 x (67, 7) and
    204 x (38, 7) (70 % and 40 % of the 96 bands) plus temporal convs 51 x 129, 65, 33 frames,
    concatenated to ``(B, 561, T)`` -> back-end: three conv1d-7 layers of 64 channels, the last two
    residual -> concatenation with the front-end ``(B, 753, T)`` -> max and mean over time
    ``(B, 1506)`` -> dense 200, BN, ReLU, dropout -> dense 50 (logits).
    """

    def __init__(self, window: torch.Tensor, mel_fb: torch.Tensor, n_tags: int = 50) -> None:
        super().__init__()
        self.frontend = WonFrontend(window, mel_fb)
        self.timbral = nn.ModuleList(
            [TimbralConv(204, int(0.7 * N_MELS)), TimbralConv(204, int(0.4 * N_MELS))]
        )
        self.temporal = nn.ModuleList([TemporalConv(51, n) for n in (129, 65, 33)])
        front = 2 * 204 + 3 * 51  # 561
        self.backend = nn.ModuleList(
            [Conv1dBNReLU(front, 64), Conv1dBNReLU(64, 64), Conv1dBNReLU(64, 64)]
        )
        self.dense1 = nn.Linear(2 * (front + 3 * 64), 200)
        self.bn = nn.BatchNorm1d(200)
        self.dropout = nn.Dropout(0.5)
        self.dense2 = nn.Linear(200, n_tags)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        check_wave(wave)
        x = self.frontend(wave)  # (B, 1, 96, T)
        front = torch.cat([m(x) for m in [*self.timbral, *self.temporal]], dim=1)  # (B, 561, T)
        feats = [front, self.backend[0](front)]  # + (B, 64, T)
        for layer in self.backend[1:]:
            feats.append(layer(feats[-1]) + feats[-1])  # residual (B, 64, T)
        h = torch.cat(feats, dim=1)  # (B, 753, T)
        pooled = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)  # (B, 1506)
        return self.dense2(self.dropout(F.relu(self.bn(self.dense1(pooled)))))  # (B, 50)


def _fcn_keys(key: str) -> str:
    """Upstream FCN key -> this module's (``layerK.*`` -> ``blocks.{K-1}.*``)."""
    if key.startswith("layer"):
        head, rest = key.split(".", 1)
        return f"blocks.{int(head[5:]) - 1}.{rest}"
    return key


def _musicnn_keys(key: str) -> str:
    """Upstream Musicnn key -> this module's (front-end branches and back-end layers)."""
    head, _, rest = key.partition(".")
    if head == "layers":  # layers.0-1 timbral, layers.2-4 temporal
        index, _, rest = rest.partition(".")
        i = int(index)
        return f"timbral.{i}.{rest}" if i < 2 else f"temporal.{i - 2}.{rest}"
    if head in ("layer1", "layer2", "layer3"):
        return f"backend.{int(head[5:]) - 1}.{rest}"
    return key


def flush_subnormals(value: torch.Tensor) -> torch.Tensor:
    """Subnormal floats (``0 < |x| < 1.2e-38``) set to 0.

    The published Musicnn holds ~190,000 of them (dead filters decayed towards 0: a quarter of
    its timbral kernels, of ``layer1`` and of ``dense1``); they change no output by more than
    ~1e-35, but CPUs compute with subnormals far slower (docs/ARCHITECTURE.md, "Measured design
    choices").
    """
    if not value.is_floating_point():
        return value
    return torch.where(value.abs() < torch.finfo(value.dtype).tiny, torch.zeros_like(value), value)


def _load(model_cls: type[nn.Module], state: Mapping[str, torch.Tensor], rename) -> nn.Module:
    """Build ``model_cls`` from an upstream state_dict (front-end buffers + renamed layers)."""
    missing = [k for k in FRONTEND_KEYS if k not in state]
    if missing:
        raise ValueError(f"state_dict lacks the front-end buffers {missing}")
    model = model_cls(state["spec.spectrogram.window"], state["spec.mel_scale.fb"])
    params = {}
    for key, value in state.items():
        if key in FRONTEND_KEYS:
            continue
        value = flush_subnormals(value)
        if key.startswith("spec_bn."):
            params[f"frontend.{key}"] = value
        else:
            params[rename(key)] = value
    model.load_state_dict(params, strict=True)
    return model.eval()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a published ``best_model.pth`` (a plain state_dict) on the CPU, tensors only."""
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} is not a state_dict (got {type(state).__name__})")
    return dict(state)


def build_fcn(path: str | Path) -> nn.Module:
    """:class:`WonFCN` with the weights of ``mtat/fcn/best_model.pth`` (eval mode), its mel
    front-end's DFT split in two (:meth:`MelPower.factored`)."""
    model = _load(WonFCN, read_state_dict(path), _fcn_keys)
    model.frontend.mel = model.frontend.mel.factored()
    return model


def build_musicnn(path: str | Path) -> nn.Module:
    """:class:`WonMusicnn` with the weights of ``mtat/musicnn/best_model.pth`` (eval mode), its
    timbral convolutions computed through the DFT over frequency (:meth:`TimbralConv.freeze`)
    and its mel front-end's DFT split in two (:meth:`MelPower.factored`)."""
    model = _load(WonMusicnn, read_state_dict(path), _musicnn_keys)
    for conv in model.timbral:
        conv.freeze()
    model.frontend.mel = model.frontend.mel.factored()
    return model
