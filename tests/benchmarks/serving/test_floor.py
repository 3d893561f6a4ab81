"""The floor's runs (benchmarks.serving.floor) and ``LoadedModel.run_batched`` with the lazy chunks
``Tagger.prepare`` returns: every run gets the same rows as from the materialised array, so the
outputs are bit-identical."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import numpy as np

from app.config import Settings
from app.registry import ModelRegistry
from app.tagger import Tagger
from benchmarks.serving.floor import split_run
from tagging.chunks import Chunks
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, tone


def test_lazy_chunks_run_as_their_array(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", chunk_hop_s=0.5)
    tagger = Tagger(settings, ModelRegistry(settings))
    model = tagger.registry.get("beta")
    data = audio_bytes(tone(4.2, seed=6), SAMPLE_RATE, "WAV", "PCM_16")
    try:
        chunks, _, _ = tagger.prepare(data, model, segments=True)
    finally:
        tagger.close()
    assert isinstance(chunks, Chunks) and len(chunks.pieces) == 2
    array = np.asarray(chunks)  # (clip chunks, then segment chunks; L)
    for max_batch in (1, 5, 64):
        np.testing.assert_array_equal(
            model.run_batched(chunks, max_batch), model.run_batched(array, max_batch)
        )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for max_batch in (3, 64):
            np.testing.assert_array_equal(
                split_run(model, chunks, max_batch, pool), split_run(model, array, max_batch, pool)
            )
