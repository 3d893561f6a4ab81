"""Song-level musical decisions from the latent tags: tempo, key, progression, drums, instruments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from training.data.synth.plan import S_STYLE

_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])


@dataclass
class Style:
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

    @property
    def dense(self) -> bool:
        return self.density == "dense"

    @property
    def sparse(self) -> bool:
        return self.density == "sparse"

    @property
    def steps(self) -> int:
        """16th-note steps per bar."""
        return self.beats_per_bar * 4

    def pitch(self, degree: int, octave: int = 0) -> int:
        """MIDI pitch of a scale degree (degrees past 6 climb octaves)."""
        sc = self.scale
        return self.tonic + 12 * (octave + degree // 7) + int(sc[degree % 7])

    def chord_root(self, bar_idx: int) -> int:
        """Scale degree of the chord root of bar ``bar_idx`` of the song."""
        return self.progression[bar_idx % len(self.progression)]

    def chord(self, bar_idx: int, octave: int = 0, seventh: bool = False) -> list[int]:
        """MIDI pitches of the triad (or seventh chord) of bar ``bar_idx``."""
        r = self.chord_root(bar_idx)
        degs = [r, r + 2, r + 4] + ([r + 6] if seventh else [])
        return [self.pitch(d, octave) for d in degs]


_PROGS_MAJOR = [[0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4], [1, 4, 0, 0], [0, 3, 0, 4], [0, 5, 1, 4]]
_PROGS_MINOR = [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 3, 6, 2], [0, 5, 3, 4]]
_PROGS_CLASSICAL = [[0, 3, 4, 0], [0, 5, 1, 4], [0, 3, 6, 2, 5, 1, 4, 0], [0, 4, 5, 2, 3, 0, 3, 4]]
_PROGS_VAMP = [[0, 0, 0, 0], [0, 0, 5, 5], [0, 0, 6, 6], [0, 3, 0, 3]]
_OTHER_STYLES = ("ambient", "vocal", "world", "organ")


def _tempo(tags: set[str], rng: np.random.Generator) -> tuple[float, str]:
    """Tempo in BPM and note density (sparse | medium | dense) from the tempo tags."""
    u = rng.uniform
    if "fast" in tags and "slow" in tags:
        fast = rng.random() < 0.5
        return (u(140, 180), "dense") if fast else (u(55, 80), "sparse")
    if "fast" in tags:
        return u(140, 180), "dense"
    if "slow" in tags:
        return u(55, 80), "sparse"
    if "techno" in tags:
        return u(125, 135), "medium"
    return u(88, 124), "medium"


def _harmony(tags: set[str], rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Scale (minor more likely for techno, electronic, rock) and chord progression."""
    minor_p = 0.75 if tags & {"techno", "electronic", "rock"} else 0.4
    minor = rng.random() < minor_p
    scale = _MINOR if minor else _MAJOR
    if "classical" in tags:
        prog = list(_PROGS_CLASSICAL[rng.integers(len(_PROGS_CLASSICAL))])
    elif "techno" in tags:
        prog = list(_PROGS_VAMP[rng.integers(len(_PROGS_VAMP))])
    else:
        pool = _PROGS_MINOR if minor else _PROGS_MAJOR
        prog = list(pool[rng.integers(len(pool))])
    return scale, prog


def _drum_style(tags: set[str], density: str, rng: np.random.Generator) -> str | None:
    """techno | rock | groove | halftime | breakbeat | None."""
    if "techno" in tags:
        return "techno"
    if "rock" in tags:
        return "halftime" if density == "sparse" else "rock"
    if "drums" in tags:
        return "halftime" if density == "sparse" else "groove"
    if "electronic" in tags and rng.random() < 0.5:
        return "breakbeat"
    return None


def _tagged_parts(
    tags: set[str], add: Callable[[str, float], None], rng: np.random.Generator
) -> None:
    """The instruments the latent tags call for."""
    if "guitar" in tags:
        add("guitar", 0)
    if "rock" in tags:
        add("dist_guitar", -2)
        add("bass_electric", -4)
    if "piano" in tags:
        add("piano", 0)
    if "strings" in tags:
        add("strings", -1)
    if "classical" in tags:
        add("woodwinds", -3)
        if "strings" not in tags and rng.random() < 0.4:
            add("cellos", -9)
    if "techno" in tags:
        add("synth_bass", -3)
        add("synth_stab", -4)


def _electronic_parts(
    tags: set[str],
    parts: dict[str, float],
    add: Callable[[str, float], None],
    rng: np.random.Generator,
) -> None:
    if "electronic" in tags:
        add("synth_arp", -4)
        if rng.random() < 0.6:
            add("synth_pad", -8)
        if "synth_bass" not in parts:
            add("synth_bass", -4)


def _other_style(density: str, add: Callable[[str, float], None], rng: np.random.Generator) -> str:
    """No instrument tag: fast/slow/drums-only songs and untagged songs get other styles.

    Fast songs get percussive palettes (dense onsets), slow ones soft ones (long notes).
    """
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
    return other


def _parts(
    tags: set[str], density: str, drums: str | None, rng: np.random.Generator
) -> tuple[dict[str, float], str | None]:
    """Instruments -> linear gain (varied per song), and the other style of songs without any."""
    parts: dict[str, float] = {}

    def add(name: str, db: float) -> None:
        parts[name] = 10 ** ((db + rng.uniform(-3, 3)) / 20)

    _tagged_parts(tags, add, rng)
    _electronic_parts(tags, parts, add, rng)
    if drums in ("groove", "halftime") and not (parts.keys() & {"bass_electric", "synth_bass"}):
        add("bass_electric", -5)
    other = None
    if not parts:
        other = _other_style(density, add, rng)
    elif "classical" not in tags and rng.random() < 0.25:
        add("voice", -4)  # singers appear in many MTAT styles: a distractor, not a tag
    return parts, other


def _motif(beats: int, density: str, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """A one-bar melodic motif on the 16th grid, repeated with variation by every segment."""
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
    return motif


def make_style(latent: Sequence[str], seed: int, song: int) -> Style:
    """The song's style from its latent tags; every draw comes from ``(seed, song)``."""
    rng = np.random.default_rng([seed, song, S_STYLE])
    L = set(latent)
    u = rng.uniform
    tempo, density = _tempo(L, rng)
    scale, prog = _harmony(L, rng)
    beats = 3 if ("classical" in L and rng.random() < 0.3) else 4
    drums = _drum_style(L, density, rng)
    parts, other = _parts(L, density, drums, rng)
    dynamics = "classical" in L or rng.random() < 0.15
    motif = _motif(beats, density, rng)
    long_tail = "classical" in L or density == "sparse" or other == "ambient"
    return Style(
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
