"""VerticalMax computes conv2d (valid in frequency) + max over frequency through a DFT, and the
two ports that use it give the values of their direct form."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from training.export import export_onnx
from training.models.pretrained.pons import ConvReLUBN, MaxOverFreq
from training.models.pretrained.vertical import VerticalMax, dead_filters
from training.models.pretrained.won import TimbralConv


def _direct(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The definition: ``(B, F, T')`` -> conv2d with ``(C, 1, h, w)`` -> max over frequency."""
    y = F.conv2d(x.unsqueeze(1), weight.unsqueeze(1), bias)  # (B, C, F - h + 1, T)
    return y.amax(dim=2)


def _bank(c: int, h: int, w: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(c, h, w, generator=g), torch.randn(c, generator=g)


@pytest.mark.parametrize(
    ("n_freq", "height", "width", "frames"),
    [(96, 67, 7, 40), (96, 38, 7, 33), (17, 5, 3, 9), (12, 12, 1, 4), (8, 1, 2, 5)],
)
def test_equals_the_direct_convolution_and_maximum(n_freq, height, width, frames) -> None:
    weight, bias = _bank(24, height, width, seed=n_freq + height)
    x = 3 * torch.randn(3, n_freq, frames + width - 1, generator=torch.Generator().manual_seed(2))
    want = _direct(weight, bias, x)
    got = VerticalMax(weight, bias, n_freq)(x)
    assert got.shape == want.shape == (3, 24, frames)
    # the same sums in another order: fp32 rounding of terms up to ~|w| |x| h w
    assert torch.allclose(got, want, rtol=0, atol=2e-5 * float(want.abs().max()))


def test_a_wrong_sum_is_caught() -> None:
    """The tolerance above is far tighter than any real error (a one-bin shift, a lost term)."""
    weight, bias = _bank(8, 38, 7, seed=3)
    x = torch.randn(2, 96, 30, generator=torch.Generator().manual_seed(4))
    want = _direct(weight, bias, x)
    wrong = weight.clone()
    wrong[0, 0, 0] += 1e-2  # one tap of one filter
    got = VerticalMax(wrong, bias, 96)(x)
    assert not torch.allclose(got, want, rtol=0, atol=2e-5 * float(want.abs().max()))


def test_dead_filters_give_their_bias_and_keep_their_place() -> None:
    weight, bias = _bank(10, 20, 3, seed=5)
    weight[[1, 4]] = 0.0  # dead: all zero
    weight[7] *= 1e-30  # dead: sum |W| * 1e6 far under half an ulp of a bias ~1
    bias[7] = 0.5
    module = VerticalMax(weight, bias, 32)
    assert module.n_live == 7
    x = 100 * torch.randn(2, 32, 12, generator=torch.Generator().manual_seed(6))
    got, want = module(x), _direct(weight, bias, x)
    for c in (1, 4, 7):
        assert torch.equal(got[:, c], torch.full_like(got[:, c], float(bias[c])))
        assert torch.equal(want[:, c], got[:, c])  # the direct fp32 form rounds to the bias too
    assert torch.allclose(got, want, rtol=0, atol=2e-5 * float(want.abs().max()))


def test_dead_filter_rule() -> None:
    w = torch.zeros(4, 2, 2)
    w[1] = 1e-12  # sum |W| = 4e-12, times 1e6 = 4e-6: over half an ulp of 1.0 (6e-8)
    w[2] = 1e-20  # 4e-14: under it
    w[3] = 1e-20
    b = torch.tensor([0.0, 1.0, 1.0, 0.0])  # a zero bias keeps any non-zero filter
    assert dead_filters(w, b, 1e6).tolist() == [True, False, True, False]


def test_rejects_impossible_banks() -> None:
    with pytest.raises(ValueError, match="height"):
        VerticalMax(torch.ones(2, 9, 3), torch.zeros(2), 8)
    with pytest.raises(ValueError, match="dead"):
        VerticalMax(torch.zeros(2, 4, 3), torch.zeros(2), 8)


def _bn_mixed(bn: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    c = bn.num_features
    bn.weight.data = torch.randn(c, generator=g)  # about half the scales negative
    bn.bias.data = torch.randn(c, generator=g)
    bn.running_mean.data = torch.randn(c, generator=g)
    bn.running_var.data = torch.rand(c, generator=g) + 0.05


def test_won_timbral_conv_frozen_equals_its_direct_form() -> None:
    layer = TimbralConv(16, 38).eval()
    _bn_mixed(layer.bn, seed=7)
    layer.conv.weight.data[3] = 0.0  # a dead filter
    x = torch.randn(2, 1, 96, 50, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        want = layer(x)
        layer.freeze()
        got = layer(x)
    assert layer.vertical is not None and layer.vertical.n_live == 15
    assert (layer.bn.weight < 0).any() and (layer.bn.weight > 0).any()
    assert got.shape == want.shape == (2, 16, 50)
    assert torch.allclose(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


def test_pons_timbral_layer_frozen_equals_its_direct_form() -> None:
    layer = ConvReLUBN(1, 16, (7, 38), (3, 3), pool=MaxOverFreq()).eval()
    _bn_mixed(layer.bn, seed=9)
    x = torch.randn(2, 1, 40, 96, generator=torch.Generator().manual_seed(10))
    with torch.no_grad():
        want = layer(x)
        layer.freeze()
        got = layer(x)
    assert got.shape == want.shape == (2, 16, 40)
    assert torch.allclose(got, want, rtol=0, atol=1e-5 * float(want.abs().max()))


def test_only_vertical_banks_freeze() -> None:
    with pytest.raises(ValueError, match="one-channel"):
        ConvReLUBN(4, 8, (3, 3), (1, 1), 1, pool=torch.nn.MaxPool2d(2, 2)).freeze()


def test_exports_to_onnx_and_runs_any_batch(tmp_path) -> None:
    """The exported form (onnxruntime, dynamic batch) gives the direct values."""
    layer = TimbralConv(8, 20).eval()
    _bn_mixed(layer.bn, seed=11)
    layer.conv.weight.data[0] = 0.0
    layer.freeze()

    class Wave(torch.nn.Module):  # (B, 96 * 30) waveform-shaped input -> (B, 8 * 30)
        def __init__(self) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, wave: torch.Tensor) -> torch.Tensor:
            return self.layer(wave.reshape(-1, 1, 96, 30)).flatten(1)

    model = Wave().eval()
    path = export_onnx(model, 96 * 30, tmp_path / "v.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, 96 * 30, generator=torch.Generator().manual_seed(batch))
        got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            want = torch.sigmoid(model(x)).numpy()  # export_onnx adds the sigmoid
        assert got.shape == want.shape == (batch, 8 * 30)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
