"""Hand-made audio descriptors for the dataset study (numpy/scipy only, no librosa).

Every descriptor is one number per clip, computed from 16 kHz mono audio:

- ``onset_rate``: onsets per second, peaks of a spectral-flux onset envelope (Bello et al. 2005,
  "A tutorial on onset detection in music signals") above a moving-median threshold.
- ``tempo_bpm`` / ``tempo_strength``: the autocorrelation of that envelope between 40 and 240 BPM,
  weighted by a log-normal prior around 120 BPM (as Ellis 2007, "Beat tracking by dynamic
  programming", does for the tempo estimate); strength is the normalized autocorrelation there.
- ``centroid``, ``bandwidth``, ``rolloff`` (85 %), ``flatness`` (Wiener entropy: geometric over
  arithmetic mean of the power spectrum), frame-averaged; ``rms`` and ``zcr`` (zero crossings per
  sample), frame-averaged; ``mfcc_0`` .. ``mfcc_12``: means of MFCCs (Davis & Mermelstein 1980;
  log mel energies -> DCT-II, orthonormal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import dct
from scipy.ndimage import median_filter
from scipy.signal import find_peaks

from tagging.constants import SAMPLE_RATE

SCALAR_DESCRIPTORS: tuple[str, ...] = (
    "onset_rate",
    "tempo_bpm",
    "tempo_strength",
    "centroid",
    "bandwidth",
    "flatness",
    "rolloff",
    "rms",
    "zcr",
)
"""Descriptors with a direct physical reading (plotted per tag)."""

N_MFCC = 13
DESCRIPTOR_NAMES: tuple[str, ...] = SCALAR_DESCRIPTORS + tuple(f"mfcc_{i}" for i in range(N_MFCC))
"""Every descriptor :func:`compute_descriptors` returns, in a fixed order."""

DESCRIPTOR_UNITS: dict[str, str] = {
    "onset_rate": "onsets/s",
    "tempo_bpm": "BPM",
    "tempo_strength": "autocorr. 0-1",
    "centroid": "Hz",
    "bandwidth": "Hz",
    "flatness": "0-1",
    "rolloff": "Hz (85 %)",
    "rms": "linear",
    "zcr": "crossings/sample",
}


@dataclass(frozen=True)
class DescriptorConfig:
    """STFT and mel settings; defaults suit 16 kHz music (64 ms window, 16 ms hop)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float | None = None  # None: Nyquist
    rolloff_share: float = 0.85
    min_bpm: float = 40.0
    max_bpm: float = 240.0
    prior_bpm: float = 120.0
    prior_octaves: float = 1.0  # std of the log2-tempo prior
    min_onset_gap_s: float = 0.05
    onset_median_s: float = 1.0


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: 2595 log10(1 + f/700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filters, ``(n_mels, n_fft // 2 + 1)``, each normalized to unit area (Slaney)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= Nyquist, got fmin={fmin}, fmax={fmax}")
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(up, down))
    fb *= 2.0 / (upper - lower)  # equal area, so wide high filters do not dominate
    return fb.astype(np.float64)


def frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centered frames ``(n_frames, n_fft)`` of ``x`` (reflect-padded by ``n_fft // 2``)."""
    x = np.asarray(x, dtype=np.float64)
    pad = n_fft // 2
    mode = "reflect" if len(x) > pad else "constant"
    x = np.pad(x, (pad, pad), mode=mode)
    n = 1 + max(len(x) - n_fft, 0) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def power_spectrogram(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|^2 with a Hann window, ``(n_frames, n_fft // 2 + 1)``."""
    win = np.hanning(n_fft + 1)[:-1]  # periodic Hann
    spec = np.fft.rfft(frames(x, n_fft, hop) * win[None, :], axis=1)
    return spec.real**2 + spec.imag**2


def onset_envelope(log_mel: np.ndarray) -> np.ndarray:
    """Spectral flux: half-wave rectified frame difference of log mel energies, mean over bands.

    ``log_mel`` is ``(n_frames, n_mels)``; the result is ``(n_frames,)`` (first frame 0).
    """
    diff = np.diff(log_mel, axis=0)
    flux = np.maximum(diff, 0.0).mean(axis=1)
    return np.concatenate([[0.0], flux])


def detect_onsets(env: np.ndarray, frame_rate: float, cfg: DescriptorConfig) -> np.ndarray:
    """Frame indices of onsets: local maxima well above a moving median of the envelope."""
    if len(env) < 3 or not np.any(env > 0):
        return np.zeros(0, dtype=np.int64)
    width = max(3, int(round(cfg.onset_median_s * frame_rate)) | 1)
    local = median_filter(env, size=width, mode="nearest")
    mad = np.median(np.abs(env - np.median(env)))
    # A peak must stand out of the local median by 3 robust standard deviations (so stationary
    # noise yields few onsets) and by 5 % of the envelope's maximum (so faint ripples do not count).
    spread = 1.4826 * mad
    thresh = local + np.maximum(3.0 * spread, 0.05 * float(np.max(env))) + 1e-9
    gap = max(1, int(round(cfg.min_onset_gap_s * frame_rate)))
    peaks, _ = find_peaks(env, height=thresh, distance=gap)
    return peaks


def estimate_tempo(
    env: np.ndarray, frame_rate: float, cfg: DescriptorConfig
) -> tuple[float, float]:
    """(BPM, strength) from the onset envelope's autocorrelation within [min_bpm, max_bpm].

    Strength is the autocorrelation at the chosen lag over lag 0 (0 for a flat envelope).
    """
    e = env - env.mean()
    n = len(e)
    max_lag = int(np.ceil(60.0 * frame_rate / cfg.min_bpm)) + 1
    min_lag = max(1, int(np.floor(60.0 * frame_rate / cfg.max_bpm)))
    if n < 2 * min_lag + 2 or not np.any(e):
        return float("nan"), 0.0
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(e, nfft)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2, nfft)[: min(max_lag, n - 1) + 1]
    if ac[0] <= 0:
        return float("nan"), 0.0
    ac = ac / ac[0]
    lags = np.arange(len(ac), dtype=np.float64)
    valid = (lags >= min_lag) & (lags <= max_lag)
    if not np.any(valid):
        return float("nan"), 0.0
    bpm = np.where(lags > 0, 60.0 * frame_rate / np.maximum(lags, 1e-9), np.inf)
    prior = np.exp(-0.5 * (np.log2(bpm / cfg.prior_bpm) / cfg.prior_octaves) ** 2)
    score = np.where(valid, np.maximum(ac, 0.0) * prior, -np.inf)
    k = int(np.argmax(score))
    if not np.isfinite(score[k]) or score[k] <= 0:
        return float("nan"), 0.0
    # Parabolic interpolation of the lag for sub-frame resolution.
    lag = float(k)
    if 0 < k < len(ac) - 1:
        a, b, c = ac[k - 1], ac[k], ac[k + 1]
        denom = a - 2 * b + c
        if denom < 0:
            lag = k + 0.5 * (a - c) / denom
    return 60.0 * frame_rate / lag, float(ac[k])


def compute_descriptors(x: np.ndarray, cfg: DescriptorConfig | None = None) -> dict[str, float]:
    """All :data:`DESCRIPTOR_NAMES` for one mono signal at ``cfg.sample_rate``.

    Raises ``ValueError`` for a signal shorter than one frame or with non-finite samples.
    """
    cfg = cfg or DescriptorConfig()
    x = np.asarray(x, dtype=np.float64).ravel()
    if len(x) < cfg.n_fft:
        raise ValueError(f"signal too short for descriptors: {len(x)} < {cfg.n_fft} samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("signal contains NaN or infinite samples")
    sr = cfg.sample_rate
    frame_rate = sr / cfg.hop
    p = power_spectrogram(x, cfg.n_fft, cfg.hop)  # (T, F)
    freqs = np.linspace(0, sr / 2, p.shape[1])
    mag = np.sqrt(p)
    tot = mag.sum(axis=1)  # (T,)
    active = tot > 1e-8 * max(float(tot.max()), 1e-30)  # frames that are not digital silence
    if not np.any(active):
        active = np.ones_like(tot, dtype=bool)
    w = mag / np.maximum(tot[:, None], 1e-30)  # per-frame spectral distribution
    centroid = w @ freqs  # (T,)
    bandwidth = np.sqrt(np.sum(w * (freqs[None, :] - centroid[:, None]) ** 2, axis=1))
    cum = np.cumsum(p, axis=1)
    rolloff = freqs[np.argmax(cum >= cfg.rolloff_share * cum[:, -1:], axis=1)]
    eps = 1e-12
    flatness = np.exp(np.mean(np.log(p + eps), axis=1)) / (np.mean(p, axis=1) + eps)

    fr = frames(x, cfg.n_fft, cfg.hop)
    rms = np.sqrt(np.mean(fr**2, axis=1))
    signs = np.signbit(fr)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)

    fb = mel_filterbank(sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    log_mel = np.log(p @ fb.T + 1e-10)  # (T, n_mels)
    mfcc = dct(log_mel, type=2, norm="ortho", axis=1)[:, :N_MFCC]

    # Onset envelope from a compressed mel spectrogram (log(1 + C*E) keeps silence quiet).
    mel_db = np.log1p(1000.0 * (p @ fb.T) / max(float(np.max(p @ fb.T)), 1e-30))
    env = onset_envelope(mel_db)
    # The first frames compare reflect-padded windows: their flux is an edge artefact; they get
    # the envelope's median (neutral for the moving-median threshold and the autocorrelation).
    edge = int(np.ceil(cfg.n_fft / 2 / cfg.hop)) + 1
    if len(env) > edge:
        env[:edge] = np.median(env[edge:])
    onsets = detect_onsets(env, frame_rate, cfg)
    tempo, strength = estimate_tempo(env, frame_rate, cfg)

    out = {
        "onset_rate": len(onsets) / (len(x) / sr),
        "tempo_bpm": tempo,
        "tempo_strength": strength,
        "centroid": float(centroid[active].mean()),
        "bandwidth": float(bandwidth[active].mean()),
        "flatness": float(flatness[active].mean()),
        "rolloff": float(rolloff[active].mean()),
        "rms": float(rms.mean()),
        "zcr": float(zcr.mean()),
    }
    for i in range(N_MFCC):
        out[f"mfcc_{i}"] = float(mfcc[active, i].mean())
    return {k: float(out[k]) for k in DESCRIPTOR_NAMES}
