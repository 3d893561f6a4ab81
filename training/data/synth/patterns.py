"""Note and hit patterns per style: melodies, arpeggios, chords, basslines, drum grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.data.synth.frame import ClipFrame

Note = tuple[float, int, float, float]
"""(start s relative to the clip, midi, duration s, velocity); a drum hit is (sound, 16th
step in the bar, velocity)."""


def melody(f: ClipFrame, octave: int = 1) -> list[Note]:
    """The song's motif on the current chord, with per-segment variation."""
    seq = []
    for b, start in f.bars:
        root = f.style.chord_root(b)
        for step, length, deg in f.style.motif:
            if f.rng.random() < 0.12:
                deg = deg + int(f.rng.choice([-1, 1]))
            if f.rng.random() < 0.05:
                continue  # a rest
            seq.append(
                (
                    f.bar_t(start, step),
                    f.style.pitch(root + deg, octave),
                    length * f.step * 0.95,
                    f.rng.uniform(0.7, 1.0),
                )
            )
    return seq


def arpeggio(
    f: ClipFrame, octave: int, sub: int, pattern: Sequence[int] = (0, 1, 2, 1)
) -> list[Note]:
    """The chord (plus the octave) broken every ``sub`` 16ths in ``pattern`` order."""
    steps = f.style.steps
    seq = []
    for b, start in f.bars:
        ch = f.style.chord(b, octave) + [f.style.pitch(f.style.chord_root(b) + 7, octave)]
        for i, s in enumerate(range(0, steps, sub)):
            seq.append(
                (
                    f.bar_t(start, s),
                    ch[pattern[i % len(pattern)] % len(ch)],
                    sub * f.step * 1.5,
                    f.rng.uniform(0.6, 0.9),
                )
            )
    return seq


def chords(
    f: ClipFrame, octave: int, hits: Sequence[int] | None, length_steps: float
) -> list[Note]:
    """Block chords at the ``hits`` 16ths of every bar (None: once per bar)."""
    seq = []
    for b, start in f.bars:
        for s in hits if hits is not None else [0]:
            for m in f.style.chord(b, octave):
                seq.append(
                    (
                        f.bar_t(start, s),
                        m,
                        length_steps * f.step,
                        f.rng.uniform(0.6, 0.8),
                    )
                )
    return seq


def bassline(f: ClipFrame, octave: int, pattern: str) -> list[Note]:
    """Chord roots: ``offbeat``, ``eighths``, ``sparse`` (held) or roots and fifths on beats."""
    steps = f.style.steps
    seq = []
    for b, start in f.bars:
        root = f.style.pitch(f.style.chord_root(b), octave)
        if pattern == "offbeat":
            seq += [(f.bar_t(start, s + 2), root, 1.5 * f.step, 0.9) for s in range(0, steps, 4)]
        elif pattern == "eighths":
            seq += [
                (f.bar_t(start, s), root + (7 if s == 12 else 0), 1.8 * f.step, 0.85)
                for s in range(0, steps, 2)
            ]
        elif pattern == "sparse":
            seq += [(f.bar_t(start, 0), root, steps * f.step * 0.9, 0.9)]
        else:  # roots and fifths on beats
            seq += [
                (
                    f.bar_t(start, s),
                    root + (7 if (s // 4) % 2 else 0),
                    3.5 * f.step,
                    0.85,
                )
                for s in range(0, steps, 4)
            ]
    return seq


def extra_kicks(f: ClipFrame) -> list[int]:
    """The song's extra kick steps (0-2 of them), drawn from its kit stream."""
    kr = f.kit_rng
    return [
        int(x) for x in kr.choice([6, 10, 11, 14, 3], size=int(kr.integers(0, 3)), replace=False)
    ]


def drum_hits(f: ClipFrame, b: int, extra_kick: list[int]) -> list[tuple[str, int, float]]:
    """Hits of bar ``b`` for the style's drum pattern (techno, rock, halftime, breakbeat, groove)."""
    st = f.style
    steps = st.steps
    hits: list[tuple[str, int, float]] = []
    beat_steps = list(range(0, steps, 4))
    if st.drums == "techno":
        hits += [("kick", s, 1.0) for s in beat_steps]
        hits += [("ohat", s + 2, 0.6) for s in beat_steps]
        hits += [("clap", s, 0.7) for s in beat_steps[1::2]]
        hits += [("hat", s, 0.25) for s in range(steps) if s % 2 and f.rng.random() < 0.7]
    elif st.drums == "rock":
        hits += [("kick", 0, 1.0), ("kick", 8, 0.9)] + [("kick", s, 0.8) for s in extra_kick[:1]]
        hits += [("snare", s, 0.9) for s in beat_steps[1::2]]
        hits += [("hat", s, 0.5 if s % 4 else 0.7) for s in range(0, steps, 2)]
        if b % 4 == 0:
            hits.append(("crash", 0, 0.8))
        if b % 4 == 3 and f.rng.random() < 0.6:  # fill
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
        hits += [("snare", s, 0.2) for s in range(1, steps, 2) if f.rng.random() < 0.15]
        sub = 1 if st.density == "dense" else 2
        hits += [("hat", s, 0.35 + 0.25 * (s % 4 == 0)) for s in range(0, steps, sub)]
    return hits


def hand_drum_patterns(f: ClipFrame) -> list[np.ndarray]:
    """Song-level on/off grids (low drum, high drum, shaker) over one bar's 16ths.

    Note density follows the tempo tag: sparse = a few hits on beats, dense = busy 16ths.
    """
    steps = f.style.steps
    probs = {"sparse": (0.1, 0.06, 0.1), "medium": (0.3, 0.25, 0.5), "dense": (0.5, 0.4, 0.8)}
    grid = np.arange(steps) % (4 if f.style.density == "sparse" else 1) == 0
    pats = [(f.kit_rng.random(steps) < p) & grid for p in probs[f.style.density]]
    pats[0][0] = True  # a downbeat
    return pats
