"""Fixtures of the library tests: one local Ray per module (started once: Ray takes seconds to
start), a folder of synthetic and real recordings with damaged files among them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile as sf

from app.config import Settings
from tagging.audio import encode_mp3
from tagging.constants import SAMPLE_RATE
from tests.app.support import tone
from tests.paths import DATA, MTAT_CLIP

MODEL = "won_musicnn"
"""The service's default model (its card has f1 thresholds: rows get decided labels)."""

DAMAGED = ("broken.mp3", "empty.wav")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[str]:
    """A local Ray of two CPUs for the module: its address (GCS)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(providers="cpu", intra_op_threads=1)


def write_clips(root: Path, n_wav: int, n_mp3: int, seconds: float) -> list[Path]:
    """Synthetic clips (a sweep of changing loudness, a different seed each) as WAV and MP3."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_wav + n_mp3):
        path = root / (f"tone{i:03d}.wav" if i < n_wav else f"tone{i:03d}.mp3")
        x = tone(seconds, seed=i) * (0.5 + 0.05 * (i % 10))
        if i < n_wav:
            sf.write(path, x, SAMPLE_RATE)
        else:
            encode_mp3(x, path, SAMPLE_RATE)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """synth/: 3 WAV + 2 MP3 synthetic clips; real/: the shared real recordings (three OGG,
    the MTAT clip); and two damaged files (not audio, empty)."""
    root = tmp_path_factory.mktemp("music")
    write_clips(root / "synth", 3, 2, 6.0)
    (root / "real").mkdir()
    for src in [*sorted((DATA / "real").glob("*.ogg")), MTAT_CLIP]:
        shutil.copy(src, root / "real" / src.name)
    (root / DAMAGED[0]).write_bytes(b"ID3 this is not an mp3 at all " * 50)
    (root / DAMAGED[1]).write_bytes(b"")
    return root
