"""Datasets over a prepared cache and the chunking arithmetic they share with the service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tagging.audio import chunk_starts, encode_mp3, hop_starts, take_chunks
from tagging.constants import EVAL_CHUNKS, SAMPLE_RATE
from training.data.cache import ClipCache
from training.data.dataset import ChunkedClipDataset, RandomCropDataset
from training.data.mtat import ANNOTATIONS_FILE, write_annotations
from training.data.prepare import prepare

L = 4000  # chunk of 0.25 s


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ClipCache:
    """Train split of 6 clips: lengths 0.5 s .. 1.5 s and one shorter than a chunk (0.1 s)."""
    root = tmp_path_factory.mktemp("mtat")
    seconds = [1.5, 1.0, 0.1, 0.5, 1.25, 0.75]
    cols = ["a", "b", "c"]
    paths = []
    for k, sec in enumerate(seconds):
        (root / str(k)).mkdir()
        t = np.arange(int(sec * SAMPLE_RATE)) / SAMPLE_RATE
        encode_mp3(0.5 * np.sin(2 * np.pi * (220 + 110 * k) * t), root / f"{k}/c{k}.mp3")
        paths.append(f"{k}/c{k}.mp3")
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]])
    write_annotations(root / ANNOTATIONS_FILE, list(range(6)), paths, cols, labels)
    out = tmp_path_factory.mktemp("cache")
    prepare(root, out, workers=1, top_k=3, progress=False)
    return ClipCache.open(out, "train")


def test_chunk_starts_edges() -> None:
    np.testing.assert_array_equal(chunk_starts(100, 200, 16), [0])  # shorter than a chunk
    np.testing.assert_array_equal(chunk_starts(200, 200, 16), [0])  # exactly one chunk
    s = chunk_starts(465_000, 59_049, EVAL_CHUNKS)
    assert len(s) == 16 and s[0] == 0 and s[-1] + 59_049 == 465_000  # covers start and end
    assert np.all(np.diff(s) > 0) and np.ptp(np.diff(s)) <= 1  # evenly spaced
    with pytest.raises(ValueError):
        chunk_starts(100, 0, 16)


def test_hop_starts_edges() -> None:
    np.testing.assert_array_equal(hop_starts(50, 100, 10), [0])
    np.testing.assert_array_equal(hop_starts(100, 100, 10), [0])
    np.testing.assert_array_equal(hop_starts(130, 100, 10), [0, 10, 20, 30])
    np.testing.assert_array_equal(hop_starts(135, 100, 10), [0, 10, 20, 30, 35])  # end-aligned
    with pytest.raises(ValueError):
        hop_starts(100, 10, 0)


def test_take_chunks_pads_short_signal() -> None:
    x = np.arange(1, 6, dtype=np.float32)
    c = take_chunks(x, chunk_starts(len(x), 8, 16), 8)
    np.testing.assert_array_equal(c, [[1, 2, 3, 4, 5, 0, 0, 0]])
    y = np.arange(20, dtype=np.float32)
    c = take_chunks(y, chunk_starts(20, 8, 3), 8)
    assert c.shape == (3, 8) and c.dtype == np.float32
    np.testing.assert_array_equal(c[:, 0], [0, 6, 12])
    np.testing.assert_array_equal(c[-1], y[12:])
    hops = hop_starts(20, 8, 5)  # [0, 5, 10, 12]: overlapping rows are independent copies
    np.testing.assert_array_equal(take_chunks(y, hops, 8), [y[s : s + 8] for s in hops])
    with pytest.raises(IndexError, match="outside"):
        take_chunks(y, np.array([13]), 8)


def test_random_crop_shapes_determinism_and_padding(cache: ClipCache) -> None:
    ds = RandomCropDataset(cache, L, seed=3)
    assert len(ds) == 6
    wave, labels = ds[0]
    assert wave.shape == (L,) and wave.dtype == torch.float32
    assert labels.shape == (3,) and labels.dtype == torch.float32
    i_long = int(np.argmax(cache.lengths))
    first = [ds[i][0].clone() for i in range(len(ds))]
    again = RandomCropDataset(cache, L, seed=3)
    for i in range(len(ds)):
        assert torch.equal(first[i], again[i][0])
    # the crop is the cached audio at crop_start
    s = ds.crop_start(i_long)
    np.testing.assert_array_equal(first[i_long].numpy(), cache.audio(i_long, s, s + L))
    starts_by_epoch = set()
    for e in range(8):
        ds.set_epoch(e)
        starts_by_epoch.add(ds.crop_start(i_long))
    assert len(starts_by_epoch) > 4  # new crops each epoch
    ds.set_epoch(0)
    assert torch.equal(ds[i_long][0], first[i_long])
    assert {RandomCropDataset(cache, L, seed=k).crop_start(i_long) for k in range(8)} != {s}
    # clip shorter than a chunk: starts at 0, zero-padded at the end
    i_short = int(np.argmin(cache.lengths))
    n = int(cache.lengths[i_short])
    assert n < L
    w = ds[i_short][0].numpy()
    np.testing.assert_array_equal(w[:n], cache.audio(i_short))
    assert not w[n:].any() and np.abs(w[:n]).max() > 0.1
    np.testing.assert_array_equal(ds[i_short][1].numpy(), cache.labels[i_short])


def test_chunked_clip_dataset(cache: ClipCache) -> None:
    ds = ChunkedClipDataset(cache, L, n_chunks=16)
    for i in range(len(ds)):
        chunks, labels = ds[i]
        assert chunks.shape == (16, L) and chunks.dtype == torch.float32
        np.testing.assert_array_equal(labels.numpy(), cache.labels[i])
        x = cache.audio(i)
        if len(x) > L:
            np.testing.assert_array_equal(chunks[0].numpy(), x[:L])
            np.testing.assert_array_equal(chunks[-1].numpy(), x[-L:])  # covers the end
        else:
            np.testing.assert_array_equal(chunks[:, : len(x)].numpy(), np.tile(x, (16, 1)))
            assert not chunks[:, len(x) :].any()


def test_dataloader_with_workers(cache: ClipCache) -> None:
    ds = RandomCropDataset(cache, L, seed=0)
    batches = list(DataLoader(ds, batch_size=4, num_workers=2, shuffle=False))
    assert [b[0].shape for b in batches] == [(4, L), (2, L)]
    assert torch.equal(
        torch.cat([b[0] for b in batches]), torch.stack([ds[i][0] for i in range(6)])
    )
    chunked = next(iter(DataLoader(ChunkedClipDataset(cache, L, 4), batch_size=3)))
    assert chunked[0].shape == (3, 4, L) and chunked[1].shape == (3, 3)


def test_bad_arguments(cache: ClipCache, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        RandomCropDataset(cache, 0)
    with pytest.raises(ValueError):
        ChunkedClipDataset(cache, L, n_chunks=0)
    with pytest.raises(IndexError):
        RandomCropDataset(cache, L)[6]
