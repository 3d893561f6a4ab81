"""Percussion sounds: a song's drum kit and hand drums, drawn from its song-level kit stream."""

from __future__ import annotations

import numpy as np

from training.data.synth.dsp import filt, place
from training.data.synth.frame import ClipFrame


def _kick(f: ClipFrame, eight08: bool) -> np.ndarray:
    """Sine with a downward pitch sweep and a beater click (longer for 808-style kits)."""
    r, sr = f.kit_rng, f.sr
    t = np.arange(f.s(0.6 if eight08 else 0.35)) / sr
    f_end = r.uniform(42, 55)
    freq = f_end + r.uniform(80, 140) * np.exp(-t / 0.03)  # pitch sweep
    kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / (0.18 if eight08 else 0.09))
    kick[: f.s(0.004)] += r.uniform(-0.5, 0.5, f.s(0.004))  # beater click
    return kick


def _snare(f: ClipFrame) -> np.ndarray:
    """Highpassed noise burst over a short body tone."""
    r, sr = f.kit_rng, f.sr
    tn = np.arange(f.s(0.25)) / sr
    snare = (
        0.7
        * filt(r.standard_normal(len(tn)), "highpass", 1200.0, sr)
        * np.exp(-tn / r.uniform(0.05, 0.09))
    )
    snare += 0.5 * np.sin(2 * np.pi * r.uniform(170, 220) * tn) * np.exp(-tn / 0.05)
    return snare


def _hats(f: ClipFrame) -> tuple[np.ndarray, np.ndarray]:
    """Closed and open hi-hat: one highpassed noise with a short and a long decay."""
    th = np.arange(f.s(0.3)) / f.sr
    noise_h = filt(f.kit_rng.standard_normal(len(th)), "highpass", 5000.0, f.sr, 4)
    return noise_h * np.exp(-th / 0.025), noise_h * np.exp(-th / 0.12)


def _clap(f: ClipFrame) -> np.ndarray:
    """Three noise bursts 11 ms apart, bandpassed."""
    r, sr = f.kit_rng, f.sr
    clap = np.zeros(f.s(0.2))
    for k in range(3):
        place(
            clap,
            f.s(0.011 * k),
            r.standard_normal(f.s(0.2))
            * np.exp(-np.arange(f.s(0.2)) / sr / (0.006 if k < 2 else 0.05)),
        )
    return filt(clap, "bandpass", (900.0, 2500.0), sr)


def _crash(f: ClipFrame) -> np.ndarray:
    """Long highpassed noise."""
    tc = np.arange(f.s(1.5)) / f.sr
    noise = f.kit_rng.standard_normal(len(tc))
    return 0.5 * filt(noise, "highpass", 4000.0, f.sr) * np.exp(-tc / 0.5)


def drum_kit(f: ClipFrame) -> dict[str, np.ndarray]:
    """The song's kit: kick, snare, hat, ohat, clap, crash (808-style for techno/breakbeat)."""
    kick = _kick(f, f.style.drums in ("techno", "breakbeat"))
    snare = _snare(f)
    hat, ohat = _hats(f)
    clap = _clap(f)
    crash = _crash(f)
    return {
        "kick": kick,
        "snare": snare,
        "hat": hat,
        "ohat": ohat,
        "clap": 0.8 * clap,
        "crash": crash,
    }


def hand_drums(f: ClipFrame) -> list[np.ndarray]:
    """Two pitched membranes with a downward glide (low, high) and a shaker."""
    freqs = (f.kit_rng.uniform(90, 140), f.kit_rng.uniform(250, 420))
    sounds = []
    for fr in freqs:
        t = np.arange(f.s(0.3)) / f.sr
        ph = np.cumsum(fr * (1 + 0.3 * np.exp(-t / 0.02))) / f.sr
        sounds.append(
            np.sin(2 * np.pi * ph) * np.exp(-t / 0.08)
            + 0.3 * np.sin(2 * np.pi * 2.3 * ph) * np.exp(-t / 0.03)
        )
    ts = np.arange(f.s(0.08)) / f.sr
    sounds.append(
        0.4
        * filt(f.kit_rng.standard_normal(len(ts)), "bandpass", (4000.0, 7000.0), f.sr)
        * np.exp(-ts / 0.02)
    )
    return sounds
