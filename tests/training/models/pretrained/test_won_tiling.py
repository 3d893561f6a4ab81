"""TimeTiledConvBlock computes ConvBlock2d's values in pieces along time, bit for bit."""

from __future__ import annotations

import pytest
import torch

from training.models.layers import ConvBlock2d
from training.models.pretrained.won import TimeTiledConvBlock, WonFCN


def _pair(c_in: int, c_out: int, pool: tuple[int, int], tiles: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    whole = ConvBlock2d(c_in, c_out, pool, bias=True).eval()
    for p in whole.parameters():
        p.data = torch.randn(p.shape, generator=g)
    whole.bn.running_mean.data = torch.randn(c_out, generator=g)
    whole.bn.running_var.data = torch.rand(c_out, generator=g) + 0.1
    tiled = TimeTiledConvBlock(c_in, c_out, pool, tiles).eval()
    tiled.load_state_dict(whole.state_dict())
    return whole, tiled


@pytest.mark.parametrize(
    ("frames", "tiles"), [(1813, 4), (64, 4), (67, 3), (9, 4), (4, 4), (5, 1), (40, 16)]
)
def test_pieces_give_the_whole_block_bit_for_bit(frames: int, tiles: int) -> None:
    whole, tiled = _pair(1, 8, (2, 4), tiles, seed=frames)
    x = torch.randn(2, 1, 12, frames, generator=torch.Generator().manual_seed(tiles))
    with torch.no_grad():
        want, got = whole(x), tiled(x)
    assert got.shape == want.shape == (2, 8, 6, frames // 4)
    assert torch.equal(got, want)


def test_a_lost_halo_frame_would_show() -> None:
    """Cutting the pieces without the neighbouring frame changes the values at the seams."""
    whole, tiled = _pair(2, 4, (1, 2), 4, seed=3)
    x = torch.randn(1, 2, 6, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want = whole(x)
        pieces = [tiled(x[..., i : i + 8]) for i in range(0, 32, 8)]  # each piece zero-padded
    assert not torch.equal(torch.cat(pieces, dim=-1), want)


def test_fcn_keeps_its_state_dict_names() -> None:
    """The published weights load into the tiled first block unchanged."""
    keys = set(WonFCN(torch.hann_window(512), torch.zeros(257, 96)).state_dict())
    assert {"blocks.0.conv.weight", "blocks.0.conv.bias", "blocks.0.bn.running_var"} <= keys
