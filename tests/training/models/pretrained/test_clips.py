"""Clip rules of the ported models reproduce the originals' chunking."""

from __future__ import annotations

import numpy as np
import pytest

from tagging.clips import ClipRule
from training.models.pretrained import PORTS, get_port


def musicnn_patch_count(n_samples: int) -> int:
    """Patches musicnn's extractor makes: librosa frames ``1 + n // 256``, 187 per patch, tail
    dropped (``range(0, frames - 187 + 1, 187)``)."""
    frames = 1 + n_samples // 256
    return len(range(0, frames - 187 + 1, 187))


@pytest.mark.parametrize("n", [47_616, 47_871, 47_872, 95_743, 95_744, 733_500, 465_984])
def test_musicnn_rule_makes_the_extractors_patches(n: int) -> None:
    rule = PORTS["pons_musicnn"].clip_rule
    assert len(rule.starts(n)) == musicnn_patch_count(n)


def test_musicnn_patch_k_is_frames_187k_of_the_centred_clip() -> None:
    x = np.arange(100_000, dtype=np.float32)
    chunks = PORTS["pons_vgg"].clip_rule.chunks(x)
    # frame t of librosa (centre padded by 256) covers x[256 t - 256 : 256 t + 256]
    assert chunks[0][:256].tolist() == [0.0] * 256
    np.testing.assert_array_equal(chunks[1], x[187 * 256 - 256 : 187 * 256 - 256 + 48_128])


def test_won_rule_uses_evals_hop() -> None:
    rule = PORTS["won_musicnn"].clip_rule
    n = 465_600
    np.testing.assert_array_equal(rule.starts(n), np.arange(16) * ((n - 48_000) // 16))


@pytest.mark.parametrize("name", sorted(PORTS))
def test_one_second_upload_is_tiled_to_one_chunk(name: str) -> None:
    spec = get_port(name)
    x = np.sin(np.arange(16_000, dtype=np.float32))
    chunks = spec.clip_rule.chunks(x)
    assert chunks.shape[1] == spec.chunk_samples
    lead = spec.clip_rule.lead_pad
    np.testing.assert_array_equal(chunks[0][lead : lead + 16_000], x)  # the clip itself, then
    np.testing.assert_array_equal(chunks[0][lead + 16_000 : lead + 32_000], x)  # repeated


def test_rule_validation_and_unknown_port() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ClipRule(100)
    with pytest.raises(ValueError, match="non-empty"):
        ClipRule(100, n_chunks=2).chunks(np.zeros(0))
    with pytest.raises(ValueError, match="valid: pons_musicnn, pons_vgg, won_fcn, won_musicnn"):
        get_port("musicnn")
