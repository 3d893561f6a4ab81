"""The arrangement: each part of a song (an instrument playing a pattern) rendered as a track."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from training.data.synth import patterns as pat
from training.data.synth.dsp import filt, hz, phase, place, saw
from training.data.synth.frame import ClipFrame
from training.data.synth.instruments import Instruments
from training.data.synth.percussion import drum_kit, hand_drums

NoteFn = Callable[[int, float], np.ndarray]


def play(f: ClipFrame, seq: list[pat.Note], fn: NoteFn) -> np.ndarray:
    """Render ``(start s, midi, dur s, velocity)`` notes with ``fn(midi, dur)``."""
    out = np.zeros(f.n)
    for t, m, d, v in seq:
        if t * f.sr < f.n and (t + d + 1.0) > 0:
            place(out, f.s(t) + f.jitter(), fn(m, d), v)
    return out


def _sub(f: ClipFrame) -> int:
    """16ths per note of picked/arpeggiated parts: 1 dense, 8 sparse, else 2."""
    return 1 if f.style.dense else (8 if f.style.sparse else 2)


def _guitar(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Fingerpicked arpeggios or strummed chords (notes 12-25 ms apart); rock adds the melody."""
    sparse = f.style.sparse
    if f.timbre.random() < 0.5 or f.style.dense:  # fingerpicking
        y = play(
            f,
            pat.arpeggio(f, 0, _sub(f), (0, 2, 1, 3, 2, 1)),
            lambda m, d: ins.pluck(m, max(d, 0.6)),
        )
    else:  # strumming: chord notes 12-25 ms apart
        seq = []
        for t, m, d, v in pat.chords(f, 0, (0, 4, 6, 8, 12) if not sparse else (0, 8), 4):
            seq.append((t + 0.018 * (m % 12) / 12, m, d, v * 0.7))
        y = play(f, seq, lambda m, d: ins.pluck(m, d, bright=0.8))
    if "dist_guitar" in f.style.parts:
        y += play(f, pat.melody(f, 1), lambda m, d: ins.pluck(m, max(d, 0.3), bright=0.9))
    return gain * y / 2.0


def _dist_guitar(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Distorted power chords (root, fifth, octave) chugging in eighths: tanh drive + cab lowpass."""
    out = np.zeros(f.n)
    steps = f.style.steps
    for b, start in f.bars:
        root = f.style.pitch(f.style.chord_root(b), -1)
        if root < 40:
            root += 12
        n = f.s(steps * f.step)
        ph = phase(float(hz(root)), n, f.sr, ph0=f.rng.random())
        raw = saw(ph) + saw(ph * 1.4983) + 0.6 * saw(ph * 2.0)
        env = np.ones(n)
        if f.style.density != "sparse":  # palm-muted eighths
            per = f.s(2 * f.step)
            k = np.arange(n) % max(per, 1)
            env = 0.35 + 0.65 * np.exp(-k / (0.35 * per))
        place(out, start, raw * env)
    drive = f.timbre.uniform(4, 9)
    y = np.tanh(drive * out) / np.tanh(drive)
    return gain * filt(filt(y, "lowpass", 3500.0, f.sr, 4), "highpass", 90.0, f.sr) * 0.5


def _piano(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Right hand: melody or arpeggio; left hand: chords."""
    right = pat.melody(f, 1) if f.timbre.random() < 0.6 else pat.arpeggio(f, 1, _sub(f))
    left = pat.chords(f, 0, (0,) if f.style.sparse else (0, 8), 8)
    return gain * 0.6 * (play(f, right, ins.piano) + 0.6 * play(f, left, ins.piano))


def _strings(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Sustained chords, with a bowed melody on top unless sparse (then half the songs)."""
    y = play(f, pat.chords(f, 0, None, f.style.steps), lambda m, d: ins.bowed(m, d))
    if not f.style.sparse or f.timbre.random() < 0.5:
        y += 0.8 * play(f, pat.melody(f, 1), lambda m, d: ins.bowed(m, d, 2, 0.08))
    return gain * 0.5 * filt(y, "lowpass", 4500.0, f.sr)


def _cellos(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Cellos holding the chord roots an octave down."""
    y = play(f, pat.bassline(f, -1, "sparse"), lambda m, d: ins.bowed(m, d))
    return gain * 0.5 * filt(y, "lowpass", 2500.0, f.sr)


def _woodwinds(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Flute melody over clarinet and oboe holding two lower voices of the triad."""
    kinds = ("flute", "clarinet", "oboe")
    y = play(f, pat.melody(f, 1), lambda m, d: ins.wind(m, d, "flute"))
    for i, m_off in enumerate((0, -1)):  # two lower voices of the triad, sustained
        k = kinds[1 + i]
        seq = [
            (t, m + 12 * m_off, d, v) for t, m, d, v in pat.chords(f, 0, None, f.style.steps)[i::3]
        ]
        y += 0.5 * play(f, seq, lambda m, d, k=k: ins.wind(m, d, k))
    return gain * 0.5 * y


def _synth_bass(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Offbeat bass under techno stabs, else eighths (a held root when sparse)."""
    sparse = f.style.sparse
    kind = "offbeat" if "synth_stab" in f.style.parts else ("eighths" if not sparse else "sparse")
    y = play(f, pat.bassline(f, -1, kind), lambda m, d: ins.synth_note(m, d, "saw", 300.0, 0.05))
    return gain * y


def _synth_stab(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Techno chord stabs on a syncopated grid."""
    seq = pat.chords(f, 1, (2, 6, 10, 14) if f.timbre.random() < 0.5 else (0, 3, 6, 10), 1.2)
    return gain * 0.5 * play(f, seq, lambda m, d: ins.synth_note(m, d, "saw", 700.0, 0.04))


def _synth_arp(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Fast square or saw arpeggio (slower when sparse)."""
    wave = "square" if f.timbre.random() < 0.5 else "saw"
    seq = pat.arpeggio(f, 1, 1 if not f.style.sparse else 4, (0, 1, 2, 3))
    return gain * 0.6 * play(f, seq, lambda m, d, w=wave: ins.synth_note(m, d, w, 900.0, 0.08))


def _synth_pad(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Held chords on a slow filter envelope."""
    seq = pat.chords(f, 0, None, f.style.steps)
    return gain * 0.5 * play(f, seq, lambda m, d: ins.synth_note(m, d, "saw", 600.0, 1.0))


def _bass_electric(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Plucked electric bass: eighths under rock, held roots when sparse."""
    kind = "eighths" if f.style.drums == "rock" else ("sparse" if f.style.sparse else "roots")
    y = play(f, pat.bassline(f, -1, kind), lambda m, d: ins.pluck(m, d, bright=0.3))
    return gain * 0.8 * filt(y, "lowpass", 900.0, f.sr)


def _bass_soft(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """A soft organ bass, lowpassed."""
    y = play(f, pat.bassline(f, -1, "roots" if not f.style.sparse else "sparse"), ins.organ)
    return gain * 0.5 * filt(y, "lowpass", 500.0, f.sr)


def _voice(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """A formant voice singing the motif."""
    return gain * 0.7 * play(f, pat.melody(f, 1), ins.voice)


def _organ(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Organ chords (held once per bar when sparse)."""
    sparse = f.style.sparse
    seq = pat.chords(f, 0, None if sparse else (0, 8), 8 if not sparse else 16)
    return gain * 0.3 * play(f, seq, ins.organ)


def _marimba(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Marimba melody (arpeggios when dense)."""
    seq = pat.melody(f, 1) if not f.style.dense else pat.arpeggio(f, 1, 1)
    return gain * 0.7 * play(f, seq, ins.mallet)


def _pad(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Pad chords, one per bar."""
    return gain * 0.4 * play(f, pat.chords(f, 0, None, f.style.steps), ins.pad)


def _flute(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """A flute playing the motif."""
    return gain * 0.6 * play(f, pat.melody(f, 1), lambda m, d: ins.wind(m, d, "flute"))


def _drone(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """A held tone an octave below the tonic with a few harmonics (and a fifth)."""
    t = np.arange(f.n) / f.sr
    f0 = float(hz(f.style.tonic - 12))
    return gain * 0.3 * sum(np.sin(2 * np.pi * h * f0 * t) / h for h in (1, 1.5, 2, 3, 4))


def _world_perc(f: ClipFrame, ins: Instruments, gain: float) -> np.ndarray:
    """Hand drums and a shaker on the song's pattern, repeated every bar."""
    out = np.zeros(f.n)
    pats = pat.hand_drum_patterns(f)
    sounds = hand_drums(f)
    for _, start in f.bars:
        for snd, grid in zip(sounds, pats, strict=True):
            for s in np.flatnonzero(grid):
                place(out, start + f.s(s * f.step) + f.jitter(5), snd, f.rng.uniform(0.6, 1.0))
    return gain * out


PARTS: dict[str, Callable[[ClipFrame, Instruments, float], np.ndarray]] = {
    "guitar": _guitar,
    "dist_guitar": _dist_guitar,
    "piano": _piano,
    "strings": _strings,
    "cellos": _cellos,
    "woodwinds": _woodwinds,
    "synth_bass": _synth_bass,
    "synth_stab": _synth_stab,
    "synth_arp": _synth_arp,
    "synth_pad": _synth_pad,
    "bass_electric": _bass_electric,
    "bass_soft": _bass_soft,
    "voice": _voice,
    "organ": _organ,
    "marimba": _marimba,
    "pad": _pad,
    "flute": _flute,
    "drone": _drone,
    "world_perc": _world_perc,
}
"""Part name (as :func:`training.data.synth.style.make_style` writes it) -> its renderer.

Each takes the clip, its instruments and the part's gain and returns the scaled track ``(n,)``."""


def render_parts(f: ClipFrame, ins: Instruments) -> np.ndarray:
    """Sum of the style's parts, in the style's order (each draws from the shared streams)."""
    mix = np.zeros(f.n)
    for name, gain in f.style.parts.items():
        mix += PARTS[name](f, ins, gain)
    return mix


def drum_track(f: ClipFrame) -> np.ndarray:
    """The style's drum pattern played on the song's kit, with human timing and velocity."""
    out = np.zeros(f.n)
    kit = drum_kit(f)
    extra_kick = pat.extra_kicks(f)
    steps = f.style.steps
    for b, start in f.bars:
        for name, s, v in pat.drum_hits(f, b, extra_kick):
            if s >= steps:
                continue
            pos = start + f.s(s * f.step) + f.jitter(4)
            place(out, pos, kit[name], v * f.rng.uniform(0.85, 1.0))
    return out
