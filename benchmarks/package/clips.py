"""The clips both sides tag: 29.1-s MP3s of real recordings (the MTAT clip, cuts of the others)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.serving.clips import MTAT_CLIP, REPO
from tagging.audio import encode_mp3, load, probe

CLIP_S = 29.1
"""MTAT's clip length (its clips last 29.1 s)."""

REAL = REPO / "tests" / "data" / "real"
CUTS = (
    ("brahms", REAL / "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg", 0.0),
    ("vibe_ace_a", REAL / "Kevin_MacLeod_-_Vibe_Ace.ogg", 0.0),
    ("vibe_ace_b", REAL / "Kevin_MacLeod_-_Vibe_Ace.ogg", CLIP_S),
)  # fmt: skip
"""``(name, recording, start_s)``: the real recordings of tests/data that last >= 29.1 s."""


def make_clips(work: Path) -> list[Path]:
    """The MTAT clip as it is, and each cut of :data:`CUTS` as a 29.1-s MP3 at the recording's
    own rate (mono), written under ``work``."""
    clips = [MTAT_CLIP]
    for name, source, start_s in CUTS:
        sr = probe(source).samplerate
        wave, _ = load(source, target_sr=sr)  # (n,) mono at the recording's own rate
        cut = wave[int(start_s * sr) : int((start_s + CLIP_S) * sr)]
        if len(cut) < int(CLIP_S * sr):
            raise ValueError(f"{source.name} has no {CLIP_S} s from {start_s} s")
        path = work / f"{name}.mp3"
        encode_mp3(cut, path, sr=sr)
        clips.append(path)
    return clips
