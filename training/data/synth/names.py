"""MTAT-style names: made-up artist/album/track names and the segments' ``<start>-<end>`` suffix."""

from __future__ import annotations

import math

import numpy as np

_SYL = [
    "ka",
    "ro",
    "mi",
    "lu",
    "na",
    "te",
    "so",
    "va",
    "ri",
    "mo",
    "el",
    "an",
    "is",
    "or",
    "da",
    "ve",
    "li",
    "sa",
    "no",
    "ta",
    "ju",
    "ne",
    "ar",
    "os",
    "ul",
    "ki",
    "be",
    "fa",
    "zo",
    "la",
    "ra",
    "gi",
    "ho",
    "pe",
]
_WORDS = [
    "night",
    "river",
    "echo",
    "light",
    "blue",
    "dream",
    "song",
    "road",
    "winter",
    "summer",
    "stone",
    "glass",
    "shadow",
    "garden",
    "morning",
    "silver",
    "fire",
    "rain",
    "ocean",
    "city",
    "heart",
    "paper",
    "quiet",
    "electric",
    "golden",
    "wind",
    "mirror",
    "north",
    "circle",
    "dance",
    "hollow",
    "velvet",
    "iron",
    "secret",
    "distant",
    "little",
    "open",
    "last",
    "first",
    "violet",
    "storm",
    "harbor",
    "lantern",
    "meadow",
]


def pseudo_word(rng: np.random.Generator) -> str:
    """Two or three syllables: an invented artist name part."""
    return "".join(rng.choice(_SYL, size=int(rng.integers(2, 4))))


def song_name(rng: np.random.Generator) -> str:
    """``artist-album-track-title``, the shape of MTAT's mp3 names."""
    artist = "_".join(pseudo_word(rng) for _ in range(int(rng.integers(1, 3))))
    album = "_".join(rng.choice(_WORDS, size=int(rng.integers(1, 4))))
    track = f"{int(rng.integers(1, 19)):02d}"
    title = "_".join(rng.choice(_WORDS, size=int(rng.integers(1, 4))))
    return f"{artist}-{album}-{track}-{title}"


def segment_bounds(segment: int, seconds: float) -> tuple[int, int]:
    """MTAT's name suffix ``<start>-<end>``: 0-29, 30-59, 59-88, ... for 29.1 s segments."""
    length = int(math.floor(seconds))
    start = 0 if segment == 0 else length * segment + 1
    return start, start + length
