"""ConvReLUBN with a pool computes pool(BN(ReLU(conv))) exactly, in its cheaper order."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from training.models.pretrained.pons import ConvReLUBN, MaxOverFreq


def _mixed_sign_bn(layer: ConvReLUBN, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    bn = layer.bn
    c = bn.num_features
    bn.weight.data = torch.randn(c, generator=g)  # about half the scales negative
    bn.weight.data[0] = 0.0  # a zero scale too
    bn.bias.data = torch.randn(c, generator=g)
    bn.running_mean.data = torch.randn(c, generator=g)
    bn.running_var.data = torch.rand(c, generator=g) + 0.05


def _reference(layer: ConvReLUBN, x: torch.Tensor) -> torch.Tensor:
    """The original order: conv -> ReLU -> BN on the whole map, then the pool."""
    return layer.pool(layer.bn(F.relu(layer.conv(F.pad(x, layer.pad)))))


@pytest.mark.parametrize(
    ("layer", "x_shape"),
    [
        (ConvReLUBN(1, 24, (7, 38), (3, 3), pool=MaxOverFreq()), (2, 1, 40, 96)),  # timbral
        (ConvReLUBN(1, 8, (32, 1), (15, 16), pool=MaxOverFreq()), (2, 1, 40, 96)),  # temporal
        (ConvReLUBN(1, 16, (3, 3), (1, 1), 1, pool=nn.MaxPool2d((4, 1), (2, 2))), (2, 1, 40, 24)),
        (ConvReLUBN(16, 16, (3, 3), (1, 1), 1, pool=nn.MaxPool2d(2, 2)), (2, 16, 20, 12)),
    ],
)
def test_pooled_layer_equals_the_original_order_bit_for_bit(layer, x_shape) -> None:
    _mixed_sign_bn(layer, seed=len(x_shape) + layer.bn.num_features)
    layer.eval()
    x = torch.randn(*x_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got, want = layer(x), _reference(layer, x)
    assert got.shape == want.shape
    assert torch.equal(got, want)
    assert (layer.bn.weight < 0).any() and (layer.bn.weight > 0).any()


def test_without_a_pool_the_layer_is_conv_relu_bn() -> None:
    layer = ConvReLUBN(1, 4, (3, 3), (1, 1), 1).eval()
    _mixed_sign_bn(layer, seed=3)
    x = torch.randn(1, 1, 10, 8)
    with torch.no_grad():
        assert torch.equal(layer(x), layer.bn(F.relu(layer.conv(F.pad(x, layer.pad)))))
