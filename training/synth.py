"""Synthetic MagnaTagATune: MP3 clips + ``annotations_final.csv`` in MTAT's exact on-disk format.

MTAT audio cannot be downloaded here, so tests, CI and the demo use a miniature MTAT made by this
module. The same loader (``training.data.mtat.read_annotations``) reads it unchanged.

How it works:

* **Labels** follow the real MTAT top-10 statistics (``training/data/mtat_top10_stats.json``, derived
  by :func:`derive_stats` from the real label table ``mtat_top10_labels.tsv``; source: MTAT, Law et
  al. 2009, "Evaluation of algorithms using games: the case of music tagging", ISMIR). Each synthetic
  *song* draws a latent tag set from the empirical distribution of MTAT's top-10 label combinations
  (or none of the ten). Each ~29 s *segment* (clip) of the song writes the latent tags, each dropped
  with probability ``label_drop`` (MTAT's labels are weak: taggers miss tags).
* **Audio** is rendered from the latent tags: tempo (slow 55-80 BPM, fast 140-180 BPM, techno
  125-135 BPM), drum kits (techno four-on-the-floor, rock backbeat, grooves), plucked Karplus-Strong
  guitar (Karplus & Strong 1983), distorted power chords (rock), struck inharmonic piano, bowed
  string sections with vibrato, synthesizers with filter envelopes (electronic/techno), orchestral
  woodwinds with dynamics (classical). Clips without a top-10 tag get other styles (ambient pads,
  formant "voices", world percussion, organ) so they are not silence. Every song has a key, a chord
  progression and motif-based melodies on scale degrees, light convolution reverb and random
  variation (key, tempo within range, instrument mix, loudness).
* **Determinism**: all randomness of a clip derives from ``(seed, song index, segment index)``, so
  any number of worker processes writes byte-identical files (LAME via libsndfile is deterministic).

CLI: ``python -m training synth --out DIR --clips N --seed S [--seconds 29.1] [--workers N]``.
Stats: ``python -m training.synth --derive-stats`` rewrites the JSON from the TSV.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal

from training.constants import MTAT_FOLDERS, SAMPLE_RATE, TOP10_TAGS, data_file, mtat_tag_columns
from training.data.audio import encode_mp3
from training.data.mtat import ANNOTATIONS_FILE, write_annotations, write_synthetic_marker

log = logging.getLogger(__name__)

STATS_FILE = "mtat_top10_stats.json"
LABELS_FILE = "mtat_top10_labels.tsv"
MTAT_N_CLIPS = 25_863
"""Rows of MTAT's ``annotations_final.csv`` (clips with and without a top-10 tag)."""

# Stream ids mixed into the seed so that labels, names and audio use independent random streams.
_S_SONG, _S_LABELS, _S_NAME, _S_STYLE, _S_AUDIO, _S_FOLDER = 1, 2, 3, 4, 5, 6


# --------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator (defaults are what the demo and tests use)."""

    label_drop: float = 0.15
    """Probability that a latent tag is missing from one clip's written labels (weak labels)."""
    max_segments_per_song: int = 3
    """Song lengths are drawn from MTAT's (in segments) and capped here, so small sets hold many songs."""
    first_clip_id: int = 2
    """MTAT's first clip_id."""
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_drop < 1.0:
            raise ValueError(f"label_drop must be in [0, 1), got {self.label_drop}")
        if self.max_segments_per_song < 1:
            raise ValueError("max_segments_per_song must be >= 1")


@dataclass
class SynthSummary:
    """What :func:`synthesize` wrote."""

    out_dir: Path
    n_clips: int
    n_songs: int
    seconds_per_clip: float
    tag_counts: dict[str, int]
    """Written (observed) labels per top-10 tag."""
    latent_tag_counts: dict[str, int]
    """Clips whose rendered audio carries the tag."""
    n_untagged: int
    """Clips written without any top-10 tag."""
    folder_counts: dict[str, int]
    seconds_taken: float
    workers: int

    @property
    def clips_per_second(self) -> float:
        return self.n_clips / self.seconds_taken if self.seconds_taken > 0 else float("inf")

    def describe(self) -> str:
        tags = ", ".join(f"{t} {c}" for t, c in self.tag_counts.items())
        return (
            f"wrote {self.n_clips} clips ({self.n_songs} songs, {self.seconds_per_clip:g} s each) to "
            f"{self.out_dir} in {self.seconds_taken:.1f} s ({self.clips_per_second:.2f} clips/s, "
            f"{self.workers} workers)\n  labels: {tags}; no top-10 tag: {self.n_untagged}"
        )


@dataclass(frozen=True)
class ClipPlan:
    """One clip to write: where, which labels, and which latent tags its audio is rendered from."""

    clip_id: int
    song: int
    segment: int
    mp3_path: str
    latent: tuple[str, ...]
    labels: tuple[str, ...]


@dataclass
class DatasetPlan:
    clips: list[ClipPlan]
    n_songs: int
    seconds: float
    seed: int
    config: SynthConfig = field(default_factory=SynthConfig)

    def label_matrix(self, latent: bool = False) -> np.ndarray:
        """``(n_clips, 10)`` 0/1 float32 in ``TOP10_TAGS`` order (written or latent labels)."""
        y = np.zeros((len(self.clips), len(TOP10_TAGS)), dtype=np.float32)
        col = {t: i for i, t in enumerate(TOP10_TAGS)}
        for r, c in enumerate(self.clips):
            for t in c.latent if latent else c.labels:
                y[r, col[t]] = 1.0
        return y


# ---------------------------------------------------------------------------------- statistics


def derive_stats(labels_tsv: Path | None = None, n_mtat_clips: int = MTAT_N_CLIPS) -> dict:
    """Summarise the real MTAT top-10 label table into the small JSON the generator samples from.

    ``labels_tsv``: tab-separated, header ``clip_id``, the ten tags, ``mp3_path``, ``robak_split``;
    one row per MTAT clip with at least one top-10 tag. Clips absent from it have none of the ten.
    """
    path = Path(labels_tsv) if labels_tsv is not None else data_file(LABELS_FILE)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    missing = [t for t in (*TOP10_TAGS, "mp3_path") if rows and t not in rows[0]]
    if not rows or missing:
        raise ValueError(f"{path}: not an MTAT top-10 label table (missing columns {missing})")
    y = np.array([[int(r[t]) for t in TOP10_TAGS] for r in rows], dtype=np.int64)  # (N, 10)
    n_tagged = len(rows)
    combos = Counter("+".join(t for t, v in zip(TOP10_TAGS, row, strict=True) if v) for row in y)
    co = (y.T @ y).tolist()  # (10, 10) pairwise co-occurrence counts, diagonal = tag counts
    # Song length in segments: the last segment's end time / 29 s (a lower bound per song).
    song_end: dict[str, int] = {}
    for r in rows:
        m = re.match(r"(.*)-(\d+)-(\d+)\.mp3$", r["mp3_path"])
        if m:
            song_end[m.group(1)] = max(song_end.get(m.group(1), 0), int(m.group(3)))
    seg_hist = Counter(max(1, round(e / 29)) for e in song_end.values())
    return {
        "source": (
            "Derived by training.synth.derive_stats from training/data/mtat_top10_labels.tsv: real "
            "MagnaTagATune top-10 labels (Law et al. 2009, ISMIR) via Robak132/LabelThisSongForMe "
            "and jordipons/musicnn-training."
        ),
        "licence": (
            "CC BY-NC-SA 3.0 (MTAT annotations; audio from Magnatune, CC BY-NC-SA 1.0): "
            "non-commercial, attribute, share alike. See training/data/SOURCES.md."
        ),
        "tags": list(TOP10_TAGS),
        "n_mtat_clips": n_mtat_clips,
        "n_tagged_clips": n_tagged,
        "share_untagged": round(1.0 - n_tagged / n_mtat_clips, 6),
        "tag_counts": {t: int(c) for t, c in zip(TOP10_TAGS, y.sum(0), strict=True)},
        "tag_marginals": {
            t: round(int(c) / n_mtat_clips, 6) for t, c in zip(TOP10_TAGS, y.sum(0), strict=True)
        },
        "cooccurrence": co,
        "combinations": dict(sorted(combos.items(), key=lambda kv: (-kv[1], kv[0]))),
        "song_segments_histogram": {str(k): v for k, v in sorted(seg_hist.items())},
    }


@lru_cache(maxsize=4)
def load_stats(path: str | None = None) -> dict:
    """The committed statistics (``training/data/mtat_top10_stats.json`` by default)."""
    p = Path(path) if path is not None else data_file(STATS_FILE)
    stats = json.loads(p.read_text())
    if stats.get("tags") != list(TOP10_TAGS) or not stats.get("combinations"):
        raise ValueError(f"{p}: statistics do not match TOP10_TAGS")
    return stats


class _LabelModel:
    """Latent tag sets drawn from MTAT's combination distribution; written = latent minus drops."""

    def __init__(self, stats: dict, label_drop: float) -> None:
        combos = stats["combinations"]
        self.sets = [tuple(k.split("+")) for k in combos]
        counts = np.array(list(combos.values()), dtype=np.float64)
        self.probs = counts / counts.sum()
        # Dropping tags turns some tagged clips into untagged ones; lower the latent share of
        # untagged songs so the *written* share matches MTAT's (~36 %).
        e_all_dropped = float(
            np.sum(self.probs * label_drop ** np.array([len(s) for s in self.sets]))
        )
        target = float(stats["share_untagged"])
        self.p_none = max(0.0, (target - e_all_dropped) / (1.0 - e_all_dropped))
        hist = stats["song_segments_histogram"]
        self.seg_values = np.array([int(k) for k in hist])
        self.seg_probs = np.array(list(hist.values()), dtype=np.float64)
        self.seg_probs /= self.seg_probs.sum()

    def latent(self, rng: np.random.Generator) -> tuple[str, ...]:
        if rng.random() < self.p_none:
            return ()
        s = self.sets[int(rng.choice(len(self.sets), p=self.probs))]
        return tuple(t for t in TOP10_TAGS if t in s)  # canonical order

    def segments(self, rng: np.random.Generator, cap: int) -> int:
        return int(min(cap, rng.choice(self.seg_values, p=self.seg_probs)))


# ---------------------------------------------------------------------------------------- names

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


def _pseudo_word(rng: np.random.Generator) -> str:
    return "".join(rng.choice(_SYL, size=int(rng.integers(2, 4))))


def _song_name(rng: np.random.Generator) -> str:
    artist = "_".join(_pseudo_word(rng) for _ in range(int(rng.integers(1, 3))))
    album = "_".join(rng.choice(_WORDS, size=int(rng.integers(1, 4))))
    track = f"{int(rng.integers(1, 19)):02d}"
    title = "_".join(rng.choice(_WORDS, size=int(rng.integers(1, 4))))
    return f"{artist}-{album}-{track}-{title}"


def segment_bounds(segment: int, seconds: float) -> tuple[int, int]:
    """MTAT's name suffix ``<start>-<end>``: 0-29, 30-59, 59-88, ... for 29.1 s segments."""
    length = int(math.floor(seconds))
    start = 0 if segment == 0 else length * segment + 1
    return start, start + length


# ---------------------------------------------------------------------------------------- plan


def plan_dataset(
    n_clips: int, seed: int, seconds: float = 29.1, config: SynthConfig | None = None
) -> DatasetPlan:
    """Songs, names, folders, clip_ids and labels for ``n_clips`` clips (no audio; fast).

    Every song's latent tags and length come from ``(seed, song)``, every clip's dropped labels
    from ``(seed, song, segment)``; consecutive segments of a song share its name and folder.
    """
    cfg = config or SynthConfig()
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    if not 1.0 <= seconds <= 600.0:
        raise ValueError(f"seconds must be in [1, 600], got {seconds}")
    model = _LabelModel(load_stats(), cfg.label_drop)
    clips: list[ClipPlan] = []
    names: set[str] = set()
    song = 0
    while len(clips) < n_clips:
        rng = np.random.default_rng([seed, song, _S_SONG])
        latent = model.latent(rng)
        n_seg = min(model.segments(rng, cfg.max_segments_per_song), n_clips - len(clips))
        name = _song_name(np.random.default_rng([seed, song, _S_NAME]))
        if name in names:  # astronomically rare, but names must be unique
            name = f"{name}_{song}"
        names.add(name)
        # Folders: a seeded permutation of the 16 folders per block of 16 songs (even spread).
        perm = np.random.default_rng([seed, song // 16, _S_FOLDER]).permutation(16)
        folder = MTAT_FOLDERS[int(perm[song % 16])]
        for seg in range(n_seg):
            lrng = np.random.default_rng([seed, song, seg, _S_LABELS])
            keep = lrng.random(len(latent)) >= cfg.label_drop
            labels = tuple(t for t, k in zip(latent, keep, strict=True) if k)
            start, end = segment_bounds(seg, seconds)
            clips.append(
                ClipPlan(
                    clip_id=cfg.first_clip_id + len(clips),
                    song=song,
                    segment=seg,
                    mp3_path=f"{folder}/{name}-{start}-{end}.mp3",
                    latent=latent,
                    labels=labels,
                )
            )
        song += 1
    return DatasetPlan(clips=clips, n_songs=song, seconds=seconds, seed=seed, config=cfg)


def sample_labels(
    n_clips: int, seed: int, config: SynthConfig | None = None, latent: bool = False
) -> np.ndarray:
    """The ``(n_clips, 10)`` labels :func:`synthesize` would write (``TOP10_TAGS`` order), no audio."""
    return plan_dataset(n_clips, seed, config=config).label_matrix(latent=latent)


# ---------------------------------------------------------------------------------- dsp helpers

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


def _hz(midi: float | np.ndarray) -> float | np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def _place(out: np.ndarray, start: int, sig: np.ndarray, gain: float = 1.0) -> None:
    """Add ``sig * gain`` into ``out`` at sample ``start`` (may be negative or run past the end)."""
    if start < 0:
        sig = sig[-start:]
        start = 0
    n = min(len(sig), len(out) - start)
    if n > 0:
        out[start : start + n] += gain * sig[:n]


def _adsr(
    n: int, sr: int, attack: float, release: float, decay_tau: float | None = None
) -> np.ndarray:
    """Linear attack, optional exponential decay (time constant ``decay_tau``), linear release."""
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / max(attack, 1e-4))
    if decay_tau is not None:
        env *= np.exp(-t / decay_tau)
    r = min(n, int(release * sr))
    if r > 0:
        env[n - r :] *= np.linspace(1.0, 0.0, r)
    return env


@lru_cache(maxsize=64)
def _sos(kind: str, freq: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


def _filt(
    x: np.ndarray, kind: str, freq: float | tuple[float, float], sr: int, order: int = 2
) -> np.ndarray:
    nyq = sr / 2 * 0.98
    if isinstance(freq, tuple):
        freq = (min(freq[0], nyq * 0.9), min(freq[1], nyq))
    else:
        freq = min(freq, nyq)
    return signal.sosfilt(_sos(kind, freq, sr, order), x)


def _saw(phase: np.ndarray) -> np.ndarray:
    """Naive sawtooth from a phase in cycles (aliasing is tamed by the lowpass after it)."""
    return 2.0 * (phase - np.floor(phase)) - 1.0


def _phase(
    freq: float, n: int, sr: int, vib_rate: float = 0.0, vib_depth: float = 0.0, ph0: float = 0.0
) -> np.ndarray:
    """Phase in cycles of a tone with optional vibrato (``vib_depth`` in semitones)."""
    if vib_depth <= 0.0:
        return ph0 + freq * np.arange(n) / sr
    t = np.arange(n) / sr
    # Vibrato fades in over 0.3 s, as players do.
    f = freq * 2.0 ** (
        vib_depth / 12.0 * np.sin(2 * np.pi * vib_rate * t) * np.minimum(1.0, t / 0.3)
    )
    return ph0 + np.cumsum(f) / sr


# ----------------------------------------------------------------------------------- the style


@dataclass
class _Style:
    """Song-level musical decisions (from ``(seed, song)``), shared by all its segments."""

    tempo: float
    beats_per_bar: int
    tonic: int  # midi pitch class + 48
    scale: np.ndarray
    progression: list[int]  # scale degrees of chord roots, one chord per bar
    density: str  # sparse | medium | dense
    drums: str | None  # techno | rock | groove | halftime | breakbeat | None
    parts: dict[str, float]  # instrument -> gain
    reverb_s: float
    reverb_wet: float
    loudness_db: float
    dynamics: bool
    motif: list[tuple[int, int, int]]  # (step, length in steps, degree offset), one bar
    seed_parts: dict[str, int]


_PROGS_MAJOR = [[0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4], [1, 4, 0, 0], [0, 3, 0, 4], [0, 5, 1, 4]]
_PROGS_MINOR = [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 3, 6, 2], [0, 5, 3, 4]]
_PROGS_CLASSICAL = [[0, 3, 4, 0], [0, 5, 1, 4], [0, 3, 6, 2, 5, 1, 4, 0], [0, 4, 5, 2, 3, 0, 3, 4]]
_PROGS_VAMP = [[0, 0, 0, 0], [0, 0, 5, 5], [0, 0, 6, 6], [0, 3, 0, 3]]
_OTHER_STYLES = ("ambient", "vocal", "world", "organ")


def _make_style(latent: Sequence[str], seed: int, song: int) -> _Style:
    rng = np.random.default_rng([seed, song, _S_STYLE])
    L = set(latent)
    u = rng.uniform
    # Tempo and note density.
    if "fast" in L and "slow" in L:
        fast = rng.random() < 0.5
        tempo, density = (u(140, 180), "dense") if fast else (u(55, 80), "sparse")
    elif "fast" in L:
        tempo, density = u(140, 180), "dense"
    elif "slow" in L:
        tempo, density = u(55, 80), "sparse"
    elif "techno" in L:
        tempo, density = u(125, 135), "medium"
    else:
        tempo, density = u(88, 124), "medium"
    minor_p = 0.75 if L & {"techno", "electronic", "rock"} else 0.4
    minor = rng.random() < minor_p
    scale = _MINOR if minor else _MAJOR
    if "classical" in L:
        prog = list(_PROGS_CLASSICAL[rng.integers(len(_PROGS_CLASSICAL))])
    elif "techno" in L:
        prog = list(_PROGS_VAMP[rng.integers(len(_PROGS_VAMP))])
    else:
        pool = _PROGS_MINOR if minor else _PROGS_MAJOR
        prog = list(pool[rng.integers(len(pool))])
    beats = 3 if ("classical" in L and rng.random() < 0.3) else 4
    # Drums.
    drums: str | None = None
    if "techno" in L:
        drums = "techno"
    elif "rock" in L:
        drums = "halftime" if density == "sparse" else "rock"
    elif "drums" in L:
        drums = "halftime" if density == "sparse" else "groove"
    elif "electronic" in L and rng.random() < 0.5:
        drums = "breakbeat"
    # Instruments from the latent tags (gains in linear units, varied per song).
    parts: dict[str, float] = {}

    def add(name: str, db: float) -> None:
        parts[name] = 10 ** ((db + u(-3, 3)) / 20)

    if "guitar" in L:
        add("guitar", 0)
    if "rock" in L:
        add("dist_guitar", -2)
        add("bass_electric", -4)
    if "piano" in L:
        add("piano", 0)
    if "strings" in L:
        add("strings", -1)
    if "classical" in L:
        add("woodwinds", -3)
        if "strings" not in L and rng.random() < 0.4:
            add("cellos", -9)
    if "techno" in L:
        add("synth_bass", -3)
        add("synth_stab", -4)
    if "electronic" in L:
        add("synth_arp", -4)
        if rng.random() < 0.6:
            add("synth_pad", -8)
        if "synth_bass" not in parts:
            add("synth_bass", -4)
    if drums in ("groove", "halftime") and not (parts.keys() & {"bass_electric", "synth_bass"}):
        add("bass_electric", -5)
    other = None
    if not parts:
        # No instrument tag: fast/slow/drums-only songs and untagged songs get other styles.
        # Fast songs get percussive palettes (dense onsets), slow ones soft ones (long notes).
        pool = {"dense": ("world", "organ"), "sparse": ("ambient", "vocal", "organ")}.get(
            density, _OTHER_STYLES
        )
        other = pool[int(rng.integers(len(pool)))]
        if other == "ambient":
            add("pad", -2)
            if rng.random() < 0.5:
                add("voice", -6)
        elif other == "vocal":
            add("voice", 0)
            add("organ", -8)
            add("bass_soft", -8)
        elif other == "world":
            add("world_perc", -2)
            add("drone", -8)
            add("flute", -4)
        else:
            add("organ", -3)
            add("marimba", -4)
            add("bass_soft", -7)
    elif "classical" not in L and rng.random() < 0.25:
        add("voice", -4)  # singers appear in many MTAT styles: a distractor, not a tag
    dynamics = "classical" in L or rng.random() < 0.15
    # A one-bar melodic motif on the 16th grid, repeated with variation by every segment.
    steps = beats * 4
    lengths = {"sparse": [8, 12, 16], "medium": [2, 4, 4, 6, 8], "dense": [1, 2, 2, 2, 4]}[density]
    motif: list[tuple[int, int, int]] = []
    pos = 0
    deg = int(rng.choice([0, 2, 4]))
    while pos < steps:
        length = int(min(rng.choice(lengths), steps - pos))
        motif.append((pos, length, deg))
        deg = int(np.clip(deg + rng.choice([-2, -1, 1, 2, 3, -3]), -3, 9))
        pos += length
    long_tail = "classical" in L or density == "sparse" or other == "ambient"
    return _Style(
        tempo=float(tempo),
        beats_per_bar=beats,
        tonic=48 + int(rng.integers(12)),
        scale=scale,
        progression=prog,
        density=density,
        drums=drums,
        parts=parts,
        reverb_s=float(u(0.8, 1.6) if long_tail else u(0.3, 0.8)),
        reverb_wet=float(u(0.15, 0.3) if long_tail else u(0.06, 0.16)),
        loudness_db=float(u(-26, -18) if "classical" in L else u(-21, -14)),
        dynamics=dynamics,
        motif=motif,
        seed_parts={k: int(rng.integers(1 << 30)) for k in ("kit", "timbre")},
    )


# ---------------------------------------------------------------------------------- the renderer


class _Renderer:
    """Renders one clip (segment ``segment`` of a song) from its :class:`_Style`."""

    def __init__(
        self, style: _Style, seed: int, song: int, segment: int, seconds: float, sr: int
    ) -> None:
        self.st = style
        self.sr = sr
        self.n = int(round(seconds * sr))
        self.rng = np.random.default_rng([seed, song, segment, _S_AUDIO])
        self.timbre = np.random.default_rng([style.seed_parts["timbre"]])
        self.kit_rng = np.random.default_rng([style.seed_parts["kit"]])
        self.beat = 60.0 / style.tempo
        self.step = self.beat / 4
        self.bar = self.beat * style.beats_per_bar
        t0 = segment * seconds  # the segment's time inside the song: the progression continues
        first = int(math.floor(t0 / self.bar))
        last = int(math.ceil((t0 + seconds) / self.bar))
        # (bar index in song, bar start in samples relative to the clip)
        self.bars = [(b, int(round((b * self.bar - t0) * sr))) for b in range(first, last + 1)]
        self._pluck_cache: dict[tuple[int, float], np.ndarray] = {}

    # -- harmony
    def pitch(self, degree: int, octave: int = 0) -> int:
        sc = self.st.scale
        return self.st.tonic + 12 * (octave + degree // 7) + int(sc[degree % 7])

    def chord_root(self, bar_idx: int) -> int:
        return self.st.progression[bar_idx % len(self.st.progression)]

    def chord(self, bar_idx: int, octave: int = 0, seventh: bool = False) -> list[int]:
        r = self.chord_root(bar_idx)
        degs = [r, r + 2, r + 4] + ([r + 6] if seventh else [])
        return [self.pitch(d, octave) for d in degs]

    def s(self, seconds: float) -> int:
        return int(round(seconds * self.sr))

    def jitter(self, ms: float = 6.0) -> int:
        return int(self.rng.normal(0.0, ms / 1000 * self.sr))

    # -- instruments: each returns one note as an array
    def pluck(self, midi: int, dur: float, bright: float = 0.6) -> np.ndarray:
        """Karplus-Strong plucked string (Karplus & Strong 1983) via ``lfilter``; cached per pitch."""
        key = (midi, bright)
        if key not in self._pluck_cache:
            sr = self.sr
            period = sr / float(_hz(midi))
            ni = int(math.floor(period))
            frac = period - ni  # two-tap loop filter weights give the fractional delay
            t60 = 2.5 * (220.0 / float(_hz(midi))) ** 0.4
            rho = 10 ** (-3.0 / (t60 * float(_hz(midi))))
            length = self.s(2.0)
            burst = self.timbre.uniform(-1, 1, ni)
            burst = signal.lfilter([bright], [1, -(1 - bright)], burst)  # softer pluck = darker
            x = np.zeros(length)
            x[:ni] = burst - burst.mean()
            a = np.zeros(ni + 2)
            a[0] = 1.0
            a[ni] = -rho * (1 - frac)
            a[ni + 1] = -rho * frac
            y = signal.lfilter([1.0], a, x)
            self._pluck_cache[key] = y / (np.max(np.abs(y)) + 1e-9)
        y = self._pluck_cache[key]
        n = min(len(y), self.s(dur))
        return y[:n] * _adsr(n, self.sr, 0.001, 0.03)

    def piano(self, midi: int, dur: float) -> np.ndarray:
        """Struck string: inharmonic partials f_k = k f0 sqrt(1 + B k^2), hammer noise, decay."""
        f0 = float(_hz(midi))
        n = self.s(min(dur + 0.3, 3.0))
        t = np.arange(n) / self.sr
        k = np.arange(1, 9)[:, None]  # (8, 1) partials
        fk = k * f0 * np.sqrt(1 + 4e-4 * k**2)
        ok = fk[:, 0] < self.sr / 2 * 0.9
        tau = 1.2 * (261.0 / f0) ** 0.5 / k**0.8  # higher partials die faster
        amp = 1.0 / k**1.2
        y = np.sum((amp * np.sin(2 * np.pi * fk * t + k) * np.exp(-t / tau))[ok], axis=0)
        hammer = self.rng.standard_normal(self.s(0.012)) * np.linspace(1, 0, self.s(0.012))
        y[: len(hammer)] += 0.3 * _filt(hammer, "highpass", 1500.0, self.sr)
        return y * _adsr(n, self.sr, 0.002, min(0.15, dur))

    def bowed(self, midi: int, dur: float, voices: int = 3, attack: float = 0.25) -> np.ndarray:
        """Bowed string section: detuned sawtooths with vibrato and a slow attack (lowpassed later)."""
        n = self.s(dur + 0.2)
        f0 = float(_hz(midi))
        y = np.zeros(n)
        for _ in range(voices):
            det = 2 ** (self.rng.normal(0, 0.08) / 12)
            ph = _phase(f0 * det, n, self.sr, self.rng.uniform(4.8, 6.2), 0.18, self.rng.random())
            y += _saw(ph)
        return y / voices * _adsr(n, self.sr, attack, 0.25)

    def wind(self, midi: int, dur: float, kind: str) -> np.ndarray:
        """Woodwind-like: few harmonics (odd for clarinet), breath noise, soft attack."""
        n = self.s(dur + 0.05)
        f0 = float(_hz(midi))
        ph = _phase(f0, n, self.sr, 5.0, 0.05 if kind != "clarinet" else 0.0)
        harm = {
            "flute": [1, 0.25, 0.06],
            "clarinet": [1, 0, 0.45, 0, 0.25, 0, 0.12],
            "oboe": [1, 0.8, 0.6, 0.5, 0.3, 0.2],
        }[kind]
        y = sum(
            a * np.sin(2 * np.pi * (i + 1) * ph)
            for i, a in enumerate(harm)
            if a and (i + 1) * f0 < self.sr / 2.2
        )
        breath = _filt(self.rng.standard_normal(n), "bandpass", (f0, min(4 * f0, 7000.0)), self.sr)
        return (y + 0.04 * breath) * _adsr(n, self.sr, 0.03, 0.06)

    def synth_note(
        self, midi: int, dur: float, wave: str, cutoff: float, env_tau: float
    ) -> np.ndarray:
        """Detuned saw/square pair; a filter envelope = crossfade bright -> dark (decaying env)."""
        n = self.s(dur)
        f0 = float(_hz(midi))
        ph1 = _phase(f0 * 1.004, n, self.sr)
        ph2 = _phase(f0 * 0.996, n, self.sr, ph0=0.3)
        if wave == "square":
            raw = np.sign(np.sin(2 * np.pi * ph1)) + np.sign(np.sin(2 * np.pi * ph2))
        else:
            raw = _saw(ph1) + _saw(ph2)
        bright = _filt(raw, "lowpass", cutoff * 4, self.sr)
        dark = _filt(raw, "lowpass", cutoff, self.sr)
        env = np.exp(-np.arange(n) / self.sr / env_tau)
        return (env * bright + (1 - env) * dark) * 0.5 * _adsr(n, self.sr, 0.003, 0.02)

    def voice(self, midi: int, dur: float) -> np.ndarray:
        """Vowel-like formant tone: glottal sawtooth with vibrato through three formant bandpasses."""
        vowels = [
            (730, 1090, 2440),
            (530, 1840, 2480),
            (270, 2290, 3010),
            (570, 840, 2410),
            (300, 870, 2240),
        ]
        f1, f2, f3 = vowels[int(self.rng.integers(len(vowels)))]
        n = self.s(dur + 0.1)
        src = _saw(_phase(float(_hz(midi)), n, self.sr, self.rng.uniform(5, 6), 0.12))
        y = sum(
            g * _filt(src, "bandpass", (f * 0.85, f * 1.15), self.sr)
            for f, g in ((f1, 1.0), (f2, 0.6), (f3, 0.3))
        )
        return y * _adsr(n, self.sr, 0.08, 0.1)

    def organ(self, midi: int, dur: float) -> np.ndarray:
        n = self.s(dur)
        ph = _phase(float(_hz(midi)), n, self.sr)
        y = sum(
            a * np.sin(2 * np.pi * h * ph)
            for h, a in ((0.5, 0.5), (1, 1.0), (2, 0.6), (3, 0.4), (4, 0.3))
            if h * float(_hz(midi)) < 7000
        )
        return (
            y
            * (1 + 0.04 * np.sin(2 * np.pi * 6.5 * np.arange(n) / self.sr))
            * _adsr(n, self.sr, 0.01, 0.03)
        )

    def mallet(self, midi: int, dur: float) -> np.ndarray:
        n = self.s(min(dur + 0.3, 1.2))
        t = np.arange(n) / self.sr
        f0 = float(_hz(midi))
        return np.sin(2 * np.pi * f0 * t) * np.exp(-t / 0.35) + 0.3 * np.sin(
            2 * np.pi * 3.93 * f0 * t
        ) * np.exp(-t / 0.05)

    def pad(self, midi: int, dur: float) -> np.ndarray:
        n = self.s(dur + 0.8)
        f0 = float(_hz(midi))
        y = sum(
            np.sin(2 * np.pi * _phase(f0 * d, n, self.sr, ph0=self.rng.random()))
            for d in (0.997, 1.0, 1.003)
        )
        y = y + 0.2 * np.sin(2 * np.pi * _phase(2 * f0, n, self.sr))
        return y / 3 * _adsr(n, self.sr, min(1.2, dur / 2), 0.8)

    # -- drum sounds (song-level kit, so a song keeps its sound)
    def kit(self) -> dict[str, np.ndarray]:
        r, sr = self.kit_rng, self.sr
        eight08 = self.st.drums in ("techno", "breakbeat")
        t = np.arange(self.s(0.6 if eight08 else 0.35)) / sr
        f_end = r.uniform(42, 55)
        f = f_end + r.uniform(80, 140) * np.exp(-t / 0.03)  # pitch sweep
        kick = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / (0.18 if eight08 else 0.09))
        kick[: self.s(0.004)] += r.uniform(-0.5, 0.5, self.s(0.004))  # beater click
        tn = np.arange(self.s(0.25)) / sr
        snare = (
            0.7
            * _filt(r.standard_normal(len(tn)), "highpass", 1200.0, sr)
            * np.exp(-tn / r.uniform(0.05, 0.09))
        )
        snare += 0.5 * np.sin(2 * np.pi * r.uniform(170, 220) * tn) * np.exp(-tn / 0.05)
        th = np.arange(self.s(0.3)) / sr
        noise_h = _filt(r.standard_normal(len(th)), "highpass", 5000.0, sr, 4)
        hat = noise_h * np.exp(-th / 0.025)
        ohat = noise_h * np.exp(-th / 0.12)
        clap = np.zeros(self.s(0.2))
        for k in range(3):
            _place(
                clap,
                self.s(0.011 * k),
                r.standard_normal(self.s(0.2))
                * np.exp(-np.arange(self.s(0.2)) / sr / (0.006 if k < 2 else 0.05)),
            )
        clap = _filt(clap, "bandpass", (900.0, 2500.0), sr)
        tc = np.arange(self.s(1.5)) / sr
        crash = 0.5 * _filt(r.standard_normal(len(tc)), "highpass", 4000.0, sr) * np.exp(-tc / 0.5)
        return {
            "kick": kick,
            "snare": snare,
            "hat": hat,
            "ohat": ohat,
            "clap": 0.8 * clap,
            "crash": crash,
        }

    # -- parts
    def drums(self) -> np.ndarray:
        out = np.zeros(self.n)
        kit = self.kit()
        st = self.st
        steps = st.beats_per_bar * 4
        kr = self.kit_rng
        extra_kick = [
            int(x)
            for x in kr.choice([6, 10, 11, 14, 3], size=int(kr.integers(0, 3)), replace=False)
        ]
        for b, start in self.bars:
            hits: list[tuple[str, int, float]] = []
            beat_steps = list(range(0, steps, 4))
            if st.drums == "techno":
                hits += [("kick", s, 1.0) for s in beat_steps]
                hits += [("ohat", s + 2, 0.6) for s in beat_steps]
                hits += [("clap", s, 0.7) for s in beat_steps[1::2]]
                hits += [
                    ("hat", s, 0.25) for s in range(steps) if s % 2 and self.rng.random() < 0.7
                ]
            elif st.drums == "rock":
                hits += [("kick", 0, 1.0), ("kick", 8, 0.9)] + [
                    ("kick", s, 0.8) for s in extra_kick[:1]
                ]
                hits += [("snare", s, 0.9) for s in beat_steps[1::2]]
                hits += [("hat", s, 0.5 if s % 4 else 0.7) for s in range(0, steps, 2)]
                if b % 4 == 0:
                    hits.append(("crash", 0, 0.8))
                if b % 4 == 3 and self.rng.random() < 0.6:  # fill
                    hits += [("snare", s, 0.5 + 0.03 * (s - 8)) for s in range(8, steps)]
            elif st.drums == "halftime":
                hits += [("kick", 0, 1.0), ("snare", min(8, steps - 4), 0.9)]
                hits += [("hat", s, 0.5) for s in beat_steps]
            elif st.drums == "breakbeat":
                hits += [("kick", 0, 1.0), ("kick", 10, 0.9), ("snare", 4, 0.9), ("snare", 12, 0.9)]
                hits += [("hat", s, 0.3 + 0.3 * (s % 4 == 0)) for s in range(steps)]
            else:  # groove
                hits += [("kick", 0, 1.0)] + [("kick", s, 0.8) for s in extra_kick]
                hits += [("snare", s, 0.9) for s in beat_steps[1::2]]
                hits += [("snare", s, 0.2) for s in range(1, steps, 2) if self.rng.random() < 0.15]
                sub = 1 if st.density == "dense" else 2
                hits += [("hat", s, 0.35 + 0.25 * (s % 4 == 0)) for s in range(0, steps, sub)]
            for name, s, v in hits:
                if s >= steps:
                    continue
                pos = start + self.s(s * self.step) + self.jitter(4)
                _place(out, pos, kit[name], v * self.rng.uniform(0.85, 1.0))
        return out

    def _notes(self, seq: list[tuple[float, int, float, float]], fn) -> np.ndarray:
        """Render ``(start s, midi, dur s, velocity)`` notes with ``fn(midi, dur)``."""
        out = np.zeros(self.n)
        for t, m, d, v in seq:
            if t * self.sr < self.n and (t + d + 1.0) > 0:
                _place(out, self.s(t) + self.jitter(), fn(m, d), v)
        return out

    def _bar_t(self, start: int, step: float) -> float:
        return start / self.sr + step * self.step

    def melody(self, octave: int = 1) -> list[tuple[float, int, float, float]]:
        """The song's motif on the current chord, with per-segment variation."""
        seq = []
        for b, start in self.bars:
            root = self.chord_root(b)
            for step, length, deg in self.st.motif:
                if self.rng.random() < 0.12:
                    deg = deg + int(self.rng.choice([-1, 1]))
                if self.rng.random() < 0.05:
                    continue  # a rest
                seq.append(
                    (
                        self._bar_t(start, step),
                        self.pitch(root + deg, octave),
                        length * self.step * 0.95,
                        self.rng.uniform(0.7, 1.0),
                    )
                )
        return seq

    def arpeggio(
        self, octave: int, sub: int, pattern: Sequence[int] = (0, 1, 2, 1)
    ) -> list[tuple[float, int, float, float]]:
        steps = self.st.beats_per_bar * 4
        seq = []
        for b, start in self.bars:
            ch = self.chord(b, octave) + [self.pitch(self.chord_root(b) + 7, octave)]
            for i, s in enumerate(range(0, steps, sub)):
                seq.append(
                    (
                        self._bar_t(start, s),
                        ch[pattern[i % len(pattern)] % len(ch)],
                        sub * self.step * 1.5,
                        self.rng.uniform(0.6, 0.9),
                    )
                )
        return seq

    def chords(
        self, octave: int, hits: Sequence[int] | None, length_steps: float
    ) -> list[tuple[float, int, float, float]]:
        seq = []
        for b, start in self.bars:
            for s in hits if hits is not None else [0]:
                for m in self.chord(b, octave):
                    seq.append(
                        (
                            self._bar_t(start, s),
                            m,
                            length_steps * self.step,
                            self.rng.uniform(0.6, 0.8),
                        )
                    )
        return seq

    def bassline(self, octave: int, pattern: str) -> list[tuple[float, int, float, float]]:
        steps = self.st.beats_per_bar * 4
        seq = []
        for b, start in self.bars:
            root = self.pitch(self.chord_root(b), octave)
            if pattern == "offbeat":
                seq += [
                    (self._bar_t(start, s + 2), root, 1.5 * self.step, 0.9)
                    for s in range(0, steps, 4)
                ]
            elif pattern == "eighths":
                seq += [
                    (self._bar_t(start, s), root + (7 if s == 12 else 0), 1.8 * self.step, 0.85)
                    for s in range(0, steps, 2)
                ]
            elif pattern == "sparse":
                seq += [(self._bar_t(start, 0), root, steps * self.step * 0.9, 0.9)]
            else:  # roots and fifths on beats
                seq += [
                    (
                        self._bar_t(start, s),
                        root + (7 if (s // 4) % 2 else 0),
                        3.5 * self.step,
                        0.85,
                    )
                    for s in range(0, steps, 4)
                ]
        return seq

    def render_parts(self) -> np.ndarray:
        st, sr = self.st, self.sr
        dense, sparse = st.density == "dense", st.density == "sparse"
        mix = np.zeros(self.n)
        sub = 1 if dense else (8 if sparse else 2)
        for name, gain in st.parts.items():
            if name == "guitar":
                if self.timbre.random() < 0.5 or dense:  # fingerpicking
                    y = self._notes(
                        self.arpeggio(0, sub, (0, 2, 1, 3, 2, 1)),
                        lambda m, d: self.pluck(m, max(d, 0.6)),
                    )
                else:  # strumming: chord notes 12-25 ms apart
                    seq = []
                    for t, m, d, v in self.chords(0, (0, 4, 6, 8, 12) if not sparse else (0, 8), 4):
                        seq.append((t + 0.018 * (m % 12) / 12, m, d, v * 0.7))
                    y = self._notes(seq, lambda m, d: self.pluck(m, d, bright=0.8))
                if "dist_guitar" in st.parts:
                    y += self._notes(
                        self.melody(1), lambda m, d: self.pluck(m, max(d, 0.3), bright=0.9)
                    )
                mix += gain * y / 2.0
            elif name == "dist_guitar":
                mix += gain * self.power_chords() * 0.5
            elif name == "piano":
                right = self.melody(1) if self.timbre.random() < 0.6 else self.arpeggio(1, sub)
                left = self.chords(0, (0,) if sparse else (0, 8), 8)
                mix += (
                    gain
                    * 0.6
                    * (self._notes(right, self.piano) + 0.6 * self._notes(left, self.piano))
                )
            elif name == "strings":
                y = self._notes(
                    self.chords(0, None, st.beats_per_bar * 4), lambda m, d: self.bowed(m, d)
                )
                if not sparse or self.timbre.random() < 0.5:
                    y += 0.8 * self._notes(self.melody(1), lambda m, d: self.bowed(m, d, 2, 0.08))
                mix += gain * 0.5 * _filt(y, "lowpass", 4500.0, sr)
            elif name == "cellos":
                y = self._notes(self.bassline(-1, "sparse"), lambda m, d: self.bowed(m, d))
                mix += gain * 0.5 * _filt(y, "lowpass", 2500.0, sr)
            elif name == "woodwinds":
                kinds = ("flute", "clarinet", "oboe")
                y = self._notes(self.melody(1), lambda m, d: self.wind(m, d, "flute"))
                for i, m_off in enumerate((0, -1)):  # two lower voices of the triad, sustained
                    k = kinds[1 + i]
                    seq = [
                        (t, m + 12 * m_off, d, v)
                        for t, m, d, v in self.chords(0, None, st.beats_per_bar * 4)[i::3]
                    ]
                    y += 0.5 * self._notes(seq, lambda m, d, k=k: self.wind(m, d, k))
                mix += gain * 0.5 * y
            elif name == "synth_bass":
                pat = (
                    "offbeat"
                    if "synth_stab" in st.parts
                    else ("eighths" if not sparse else "sparse")
                )
                y = self._notes(
                    self.bassline(-1, pat), lambda m, d: self.synth_note(m, d, "saw", 300.0, 0.05)
                )
                mix += gain * y
            elif name == "synth_stab":
                seq = self.chords(
                    1, (2, 6, 10, 14) if self.timbre.random() < 0.5 else (0, 3, 6, 10), 1.2
                )
                mix += (
                    gain
                    * 0.5
                    * self._notes(seq, lambda m, d: self.synth_note(m, d, "saw", 700.0, 0.04))
                )
            elif name == "synth_arp":
                wave = "square" if self.timbre.random() < 0.5 else "saw"
                seq = self.arpeggio(1, 1 if not sparse else 4, (0, 1, 2, 3))
                mix += (
                    gain
                    * 0.6
                    * self._notes(seq, lambda m, d, w=wave: self.synth_note(m, d, w, 900.0, 0.08))
                )
            elif name == "synth_pad":
                seq = self.chords(0, None, st.beats_per_bar * 4)
                mix += (
                    gain
                    * 0.5
                    * self._notes(seq, lambda m, d: self.synth_note(m, d, "saw", 600.0, 1.0))
                )
            elif name == "bass_electric":
                pat = "eighths" if st.drums == "rock" else ("sparse" if sparse else "roots")
                y = self._notes(self.bassline(-1, pat), lambda m, d: self.pluck(m, d, bright=0.3))
                mix += gain * 0.8 * _filt(y, "lowpass", 900.0, sr)
            elif name == "bass_soft":
                y = self._notes(self.bassline(-1, "roots" if not sparse else "sparse"), self.organ)
                mix += gain * 0.5 * _filt(y, "lowpass", 500.0, sr)
            elif name == "voice":
                mix += gain * 0.7 * self._notes(self.melody(1), self.voice)
            elif name == "organ":
                mix += (
                    gain
                    * 0.3
                    * self._notes(
                        self.chords(0, None if sparse else (0, 8), 8 if not sparse else 16),
                        self.organ,
                    )
                )
            elif name == "marimba":
                mix += (
                    gain
                    * 0.7
                    * self._notes(self.melody(1) if not dense else self.arpeggio(1, 1), self.mallet)
                )
            elif name == "pad":
                mix += (
                    gain * 0.4 * self._notes(self.chords(0, None, st.beats_per_bar * 4), self.pad)
                )
            elif name == "flute":
                mix += (
                    gain * 0.6 * self._notes(self.melody(1), lambda m, d: self.wind(m, d, "flute"))
                )
            elif name == "drone":
                t = np.arange(self.n) / sr
                f0 = float(_hz(self.st.tonic - 12))
                mix += (
                    gain * 0.3 * sum(np.sin(2 * np.pi * h * f0 * t) / h for h in (1, 1.5, 2, 3, 4))
                )
            elif name == "world_perc":
                mix += gain * self.world_percussion()
        return mix

    def power_chords(self) -> np.ndarray:
        """Distorted power chords (root, fifth, octave) chugging in eighths: tanh drive + cab lowpass."""
        out = np.zeros(self.n)
        steps = self.st.beats_per_bar * 4
        for b, start in self.bars:
            root = self.pitch(self.chord_root(b), -1)
            if root < 40:
                root += 12
            n = self.s(steps * self.step)
            ph = _phase(float(_hz(root)), n, self.sr, ph0=self.rng.random())
            raw = _saw(ph) + _saw(ph * 1.4983) + 0.6 * _saw(ph * 2.0)
            env = np.ones(n)
            if self.st.density != "sparse":  # palm-muted eighths
                per = self.s(2 * self.step)
                k = np.arange(n) % max(per, 1)
                env = 0.35 + 0.65 * np.exp(-k / (0.35 * per))
            _place(out, start, raw * env)
        drive = self.timbre.uniform(4, 9)
        y = np.tanh(drive * out) / np.tanh(drive)
        return _filt(_filt(y, "lowpass", 3500.0, self.sr, 4), "highpass", 90.0, self.sr)

    def world_percussion(self) -> np.ndarray:
        """Hand drums (pitched membranes with a downward glide) and a shaker on a song pattern."""
        out = np.zeros(self.n)
        steps = self.st.beats_per_bar * 4
        # Note density follows the tempo tag: sparse = a few hits on beats, dense = busy 16ths.
        probs = {"sparse": (0.1, 0.06, 0.1), "medium": (0.3, 0.25, 0.5), "dense": (0.5, 0.4, 0.8)}
        grid = np.arange(steps) % (4 if self.st.density == "sparse" else 1) == 0
        pats = [(self.kit_rng.random(steps) < p) & grid for p in probs[self.st.density]]
        pats[0][0] = True  # a downbeat
        freqs = (self.kit_rng.uniform(90, 140), self.kit_rng.uniform(250, 420))
        sounds = []
        for f in freqs:
            t = np.arange(self.s(0.3)) / self.sr
            ph = np.cumsum(f * (1 + 0.3 * np.exp(-t / 0.02))) / self.sr
            sounds.append(
                np.sin(2 * np.pi * ph) * np.exp(-t / 0.08)
                + 0.3 * np.sin(2 * np.pi * 2.3 * ph) * np.exp(-t / 0.03)
            )
        ts = np.arange(self.s(0.08)) / self.sr
        sounds.append(
            0.4
            * _filt(self.kit_rng.standard_normal(len(ts)), "bandpass", (4000.0, 7000.0), self.sr)
            * np.exp(-ts / 0.02)
        )
        for _, start in self.bars:
            for snd, pat in zip(sounds, pats, strict=True):
                for s in np.flatnonzero(pat):
                    _place(
                        out,
                        start + self.s(s * self.step) + self.jitter(5),
                        snd,
                        self.rng.uniform(0.6, 1.0),
                    )
        return out

    def render(self) -> np.ndarray:
        st, sr = self.st, self.sr
        mix = self.render_parts()
        if st.drums is not None:
            mix += 0.9 * self.drums()
        if st.dynamics:  # crescendo/decrescendo phrases (orchestral dynamics)
            t = np.arange(self.n) / sr
            mix *= 0.55 + 0.45 * np.sin(
                2 * np.pi * t / self.rng.uniform(8, 16) + self.rng.uniform(0, 6.3)
            )
        # Light reverb: convolution with exponentially decaying noise (a synthetic room).
        m = self.s(st.reverb_s)
        ir = self.timbre.standard_normal(m) * np.exp(-np.arange(m) / sr / (st.reverb_s / 6.9))
        ir = _filt(ir, "lowpass", 5000.0, sr) / np.sqrt(np.sum(ir**2) + 1e-12)
        wet = signal.oaconvolve(mix, ir)[: self.n]
        y = (1 - st.reverb_wet) * mix + st.reverb_wet * wet
        y = _filt(y, "highpass", 30.0, sr)  # no DC / subsonic rumble
        rms = float(np.sqrt(np.mean(y**2)))
        if rms < 1e-8:
            raise RuntimeError("rendered silence (bug in the style table)")
        y *= 10 ** (st.loudness_db / 20) / rms
        # Soft limiter: peaks above 0.45 are compressed smoothly below 0.8, leaving headroom for
        # the MP3 coder's overshoot (decoded peaks stay below 1.0).
        over = np.abs(y) > 0.45
        y[over] = np.sign(y[over]) * (0.45 + 0.35 * np.tanh((np.abs(y[over]) - 0.45) / 0.35))
        return y.astype(np.float32)


def render_clip(
    latent: Sequence[str],
    seed: int,
    song: int,
    segment: int,
    seconds: float = 29.1,
    sr: int = SAMPLE_RATE,
) -> np.ndarray:
    """Audio (float32, ``seconds * sr`` samples) of one segment of a song with latent tags."""
    unknown = set(latent) - set(TOP10_TAGS)
    if unknown:
        raise ValueError(f"unknown tags {sorted(unknown)}; known: {TOP10_TAGS}")
    style = _make_style(latent, seed, song)
    return _Renderer(style, seed, song, segment, seconds, sr).render()


# ----------------------------------------------------------------------------------- writing


def _write_clip(job: tuple[Path, ClipPlan, int, float, int]) -> str:
    out_dir, clip, seed, seconds, sr = job
    audio = render_clip(clip.latent, seed, clip.song, clip.segment, seconds, sr)
    path = out_dir / clip.mp3_path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    encode_mp3(audio, tmp, sr)
    tmp.replace(path)
    return clip.mp3_path


def synthesize(
    out_dir: Path,
    n_clips: int,
    seed: int,
    seconds: float = 29.1,
    workers: int = 1,
    progress: bool = True,
    config: SynthConfig | None = None,
) -> SynthSummary:
    """Write ``n_clips`` synthetic MTAT clips and ``annotations_final.csv`` under ``out_dir``.

    The result is identical for any ``workers`` (process pool when > 1).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cfg = config or SynthConfig()
    t_start = time.perf_counter()
    plan = plan_dataset(n_clips, seed, seconds, cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(out_dir, c, seed, seconds, cfg.sample_rate) for c in plan.clips]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="synth", unit="clip")
    try:
        if workers == 1:
            for job in jobs:
                _write_clip(job)
                if bar is not None:
                    bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(_write_clip, jobs, chunksize=4):
                    if bar is not None:
                        bar.update()
    finally:
        if bar is not None:
            bar.close()
    columns = mtat_tag_columns()
    col = {t: i for i, t in enumerate(columns)}
    missing = [t for t in TOP10_TAGS if t not in col]
    if missing:
        raise RuntimeError(f"tag columns lack {missing}")
    labels = np.zeros((len(plan.clips), len(columns)), dtype=np.int64)
    for r, c in enumerate(plan.clips):
        for t in c.labels:
            labels[r, col[t]] = 1
    write_annotations(
        out_dir / ANNOTATIONS_FILE,
        [c.clip_id for c in plan.clips],
        [c.mp3_path for c in plan.clips],
        columns,
        labels,
    )
    # A marker so every later stage (prepare, export, model cards, the study) can say plainly
    # that its figures come from synthetic data. Real MTAT roots have no such file.
    write_synthetic_marker(
        out_dir,
        {
            "generator": "training.synth",
            "clips": len(plan.clips),
            "seed": seed,
            "seconds": seconds,
            "label_drop": cfg.label_drop,
        },
    )
    y, z = plan.label_matrix(), plan.label_matrix(latent=True)
    return SynthSummary(
        out_dir=out_dir,
        n_clips=len(plan.clips),
        n_songs=plan.n_songs,
        seconds_per_clip=seconds,
        tag_counts={t: int(v) for t, v in zip(TOP10_TAGS, y.sum(0), strict=True)},
        latent_tag_counts={t: int(v) for t, v in zip(TOP10_TAGS, z.sum(0), strict=True)},
        n_untagged=int((y.sum(1) == 0).sum()),
        folder_counts=dict(sorted(Counter(c.mp3_path[0] for c in plan.clips).items())),
        seconds_taken=time.perf_counter() - t_start,
        workers=workers,
    )


# ---------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output MTAT root")
    parser.add_argument("--clips", type=int, required=True, help="number of clips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=29.1, help="clip length (MTAT: 29.1)")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--label-drop", type=float, default=SynthConfig.label_drop)
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    summary = synthesize(
        args.out,
        args.clips,
        args.seed,
        seconds=args.seconds,
        workers=args.workers,
        progress=not args.no_progress,
        config=SynthConfig(label_drop=args.label_drop),
    )
    print(summary.describe())
    return 0


def _main() -> None:
    p = argparse.ArgumentParser(description="derive training/data/mtat_top10_stats.json")
    p.add_argument("--derive-stats", action="store_true", required=True)
    p.add_argument(
        "--labels", type=Path, default=None, help=f"default: training/data/{LABELS_FILE}"
    )
    p.add_argument("--out", type=Path, default=None, help=f"default: training/data/{STATS_FILE}")
    a = p.parse_args()
    stats = derive_stats(a.labels)
    out = a.out or data_file(STATS_FILE)
    out.write_text(json.dumps(stats, indent=1) + "\n")
    print(
        f"wrote {out}: {stats['n_tagged_clips']} tagged clips, {len(stats['combinations'])} combinations"
    )


if __name__ == "__main__":
    _main()

__all__ = [
    "ClipPlan",
    "DatasetPlan",
    "SynthConfig",
    "SynthSummary",
    "add_arguments",
    "derive_stats",
    "load_stats",
    "plan_dataset",
    "render_clip",
    "run",
    "sample_labels",
    "segment_bounds",
    "synthesize",
]
