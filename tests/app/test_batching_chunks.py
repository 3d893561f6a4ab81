"""The batcher with lazy chunks (tagging.chunks.Chunks): the same rows reach the model as with
``(N, L)`` arrays, each run cuts only its own rows, and a queued request holds its clip (about the
clip's size) rather than its chunks (``N x L``: 16 times the clip for Won et al.'s 16 chunks)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from app.batching import Batcher
from app.config import Settings
from app.registry import ModelRegistry
from app.tagger import Tagger
from tagging.audio import hop_starts, take_chunks
from tagging.chunks import Chunks
from tagging.clips import ClipRule
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, tone
from tests.app.test_batching import GatedModel, expected, make_batcher, run_then_close


class RecordingModel(GatedModel):
    """:class:`GatedModel` that keeps a copy of every batch it was given."""

    def __init__(self, hold: bool = False) -> None:
        super().__init__(hold)
        self.inputs: list[np.ndarray] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        assert x.dtype == np.float32 and x.flags.c_contiguous
        self.inputs.append(x.copy())
        return super().__call__(x)


def requests(seed: int) -> list[Chunks]:
    """Lazy requests of three kinds: a tiled short clip (Won's floor rule), a musicnn-like clip
    (lead/tail pads, hop) joined with segments cut from the raw clip, and a wrapped array."""
    rng = np.random.default_rng(seed)
    length = 40
    won = ClipRule(length, n_chunks=6)
    musicnn = ClipRule(length, hop_samples=16, lead_pad=4, tail_pad=4)
    short, clip = rng.standard_normal(7), rng.standard_normal(150).astype(np.float32)
    segments = Chunks.cut(clip, hop_starts(len(clip), length, 30), length)
    array = rng.standard_normal((5, length)).astype(np.float32)
    return [won.cut(short), Chunks.join(musicnn.cut(clip), segments), Chunks.of_array(array)]


async def submit_all(b: Batcher, xs: list) -> list[np.ndarray]:
    futures = [b.run(b.admit(len(x)), x) for x in xs]
    return list(await asyncio.gather(*futures))


@pytest.mark.parametrize("bucket", [False, True])
def test_lazy_chunks_run_the_rows_their_arrays_run(bucket: bool) -> None:
    """Split over runs of at most 4 rows (requests of 6, 8 + 5 and 5 rows), sharing runs: the model
    sees the same rows in the same order as with the materialised arrays, each request gets its
    own outputs."""
    lazy = requests(0)
    arrays = [np.asarray(x) for x in lazy]
    seen = {}
    for kind, xs in (("lazy", lazy), ("arrays", arrays)):
        model = RecordingModel()
        b = make_batcher(model, max_batch=4, bucket=bucket)
        got = run_then_close(b, lambda b=b, xs=xs: submit_all(b, xs))
        for x, out in zip(arrays, got, strict=True):
            np.testing.assert_array_equal(out, expected(x))
        assert all(r.rows <= 4 for r in b.stats.history) and b.stats.rows == 24
        # FIFO with one worker: the runs, end to end (bucket padding dropped), are the requests'
        # rows in order, whatever the runs' composition.
        rows = [x[: r.rows] for x, r in zip(model.inputs, b.stats.history, strict=True)]
        seen[kind] = np.concatenate(rows)
        if bucket:
            assert {len(x) for x in model.inputs} <= {1, 2, 4}
    np.testing.assert_array_equal(seen["lazy"], np.concatenate(arrays))
    np.testing.assert_array_equal(seen["lazy"], seen["arrays"])


def arrays_held(obj: object) -> int:
    """Bytes of the distinct array buffers reachable from ``obj`` through dataclass fields,
    tuples and lists (an array counts its base buffer once)."""
    roots: dict[int, int] = {}
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, np.ndarray):
            while isinstance(item.base, np.ndarray):
                item = item.base
            roots[id(item)] = item.nbytes
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack += [getattr(item, f.name) for f in dataclasses.fields(item)]
        elif isinstance(item, tuple | list):
            stack += list(item)
    return sum(roots.values())


def test_a_queued_request_holds_its_clip_not_its_chunks() -> None:
    """Won et al.'s rule at a tenth of won_fcn's scale (16 chunks of 46,400 samples over a
    46,560-sample clip, overlapping almost completely): while it waits behind a run, the
    request references about the clip's bytes, not 16 x 46,400 x 4."""
    length = 46_400
    clip = np.random.default_rng(1).standard_normal(46_560).astype(np.float32)
    won = ClipRule(length, n_chunks=16).cut(clip)
    model = GatedModel(hold=True)
    b = make_batcher(model, max_batch=16)

    async def scenario() -> np.ndarray:
        blocker = b.run(b.admit(1), np.zeros((1, length), np.float32))
        await asyncio.to_thread(model.started.wait, 10)  # the blocker is in its run
        future = b.run(b.admit(16), won)
        (queued,) = b._pending  # waiting, not one row cut yet
        assert queued.scheduled == 0 and queued.chunks.pieces[0].wave is clip
        held = arrays_held(queued)  # the clip, 16 starts, the (16, 2) output
        assert held < clip.nbytes + 1_024, held
        assert 16 * length * 4 > 15 * held
        model.gate.set()
        await blocker
        return await future

    got = run_then_close(b, scenario)
    np.testing.assert_array_equal(got, expected(np.asarray(won)))


def test_arrays_are_still_checked_and_wrapped_without_a_copy() -> None:
    model = GatedModel(hold=True)
    b = make_batcher(model)
    x = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)

    async def scenario() -> None:
        for bad in (np.zeros(8, np.float32), np.zeros((0, 8), np.float32), Chunks.of_array(x[:0])):
            with pytest.raises(ValueError, match=r"chunks must be \(N >= 1, L\)"):
                b.run(b.admit(1), bad)
            assert b.depth == 0  # the reservation was given back
        blocker = b.run(b.admit(1), x[:1])
        await asyncio.to_thread(model.started.wait, 10)
        future = b.run(b.admit(3), x)
        (queued,) = b._pending
        assert np.shares_memory(queued.chunks.pieces[0].wave, x)
        model.gate.set()
        await blocker
        np.testing.assert_array_equal(await future, expected(x))

    run_then_close(b, scenario)


def test_a_request_cancelled_in_the_queue_is_never_cut() -> None:
    """The cancel logic is unchanged: a request whose client went away before its rows were
    taken is dropped from the queue, and none of its rows reach the model."""
    model = RecordingModel(hold=True)
    b = make_batcher(model, max_batch=4)
    rng = np.random.default_rng(3)
    first, gone, last = (rng.standard_normal((n, 8)).astype(np.float32) for n in (2, 6, 3))

    async def scenario() -> np.ndarray:
        f1 = b.run(b.admit(2), Chunks.of_array(first))
        await asyncio.to_thread(model.started.wait, 10)
        f2 = b.run(b.admit(6), Chunks.of_array(gone))
        f3 = b.run(b.admit(3), Chunks.of_array(last))
        f2.cancel()
        await asyncio.sleep(0)  # the done callback marks it cancelled
        model.gate.set()
        await f1
        return await f3

    got = run_then_close(b, scenario)
    np.testing.assert_array_equal(got, expected(last))
    np.testing.assert_array_equal(np.concatenate(model.inputs), np.concatenate([first, last]))
    assert b.depth == 0


@pytest.mark.parametrize("segments", [False, True])
def test_prepare_returns_the_clip_lazily_with_the_same_rows(
    models_dir: Path, segments: bool
) -> None:
    """``Tagger.prepare``: the clip's chunks then the segments', as the arrays it built before
    (``ClipRule.chunks`` + ``take_chunks``), both pieces cut from the decoded wave itself."""
    settings = Settings(models_dir=models_dir, providers="cpu", chunk_hop_s=0.5)
    tagger = Tagger(settings, ModelRegistry(settings))
    model = tagger.registry.get("alpha")
    data = audio_bytes(tone(3.3, seed=5), SAMPLE_RATE, "WAV", "PCM_16")
    try:
        chunks, plan, audio = tagger.prepare(data, model, segments)
    finally:
        tagger.close()
    wave, length = audio.wave, plan.chunk_samples
    old = model.clip_rule.chunks(wave, tagger.max_clip_chunks)
    if segments:
        old = np.concatenate([old, take_chunks(wave, plan.segment_starts, length)])
    assert isinstance(chunks, Chunks) and chunks.shape == old.shape
    assert all(p.wave is wave for p in chunks.pieces)  # no copy of the clip (no pads to add)
    assert len(chunks.pieces) == 1 + segments and chunks.held_nbytes < wave.nbytes + 1_024
    np.testing.assert_array_equal(np.asarray(chunks), old)
    assert len(plan.all_starts()) == len(chunks)


def test_the_batcher_thread_survives_a_cut_that_fails() -> None:
    """A run whose rows cannot be cut fails its requests; the one thread serves the next."""

    class Broken(Chunks):
        def rows(self, i: int, j: int) -> np.ndarray:
            raise MemoryError("no room for the rows")

    b = make_batcher(GatedModel())
    x = np.ones((2, 8), np.float32)
    broken = Broken(Chunks.of_array(x).pieces, 8)

    async def scenario() -> np.ndarray:
        with pytest.raises(MemoryError):
            await asyncio.wait_for(b.run(b.admit(2), broken), 10)
        assert b._threads[0].is_alive()
        return await asyncio.wait_for(b.run(b.admit(2), x), 10)

    np.testing.assert_array_equal(run_then_close(b, scenario), expected(x))
