"""Audio I/O shared by training and serving: decode -> mono -> 16 kHz, chunking, MP3 encoding.

Torch-free on purpose (numpy, PyAV, soundfile, soxr): the serving image imports this module
without torch. Decoding (:func:`load`, :func:`decode`) reads a path or bytes in memory through
FFmpeg (PyAV, whose wheels bundle FFmpeg) or, for the MP3s it recognises, libsndfile
(:mod:`tagging.decoders`); channels are averaged to mono and soxr (HQ) resamples to the
model rate. We never decode with ``torchaudio.load`` (it needs torchcodec). MP3 *encoding* (the
synthetic MTAT) stays on libsndfile's LAME, so committed synthetic benchmarks keep reproducing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from tagging.constants import SAMPLE_RATE
from tagging.decoders import (
    AudioDecodeError,
    AudioInfo,
    AudioTooLongError,
    DecodeTimeoutError,
    Source,
    open_audio,
)

__all__ = [
    "AudioDecodeError",
    "AudioInfo",
    "AudioTooLongError",
    "DecodeLimits",
    "DecodeTimeoutError",
    "chunk_starts",
    "decode",
    "encode_mp3",
    "hop_starts",
    "load",
    "padded_length",
    "probe",
    "resample",
    "take_chunks",
]


@dataclass(frozen=True)
class DecodeLimits:
    """Limits of one decode; ``None`` = unlimited."""

    max_seconds: float | None = None  # the header's duration and the samples decoded (bombs)
    max_sample_rate: int | None = None  # highest source rate accepted
    timeout_s: float | None = None  # wall-clock cap of the whole decode


def probe(source: Source) -> AudioInfo:
    """Read the header only: sample rate, channels, frame count (may be estimated for MP3)."""
    with open_audio(source) as (info, _):
        return info


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality band-limited resampling (soxr HQ) of a mono float32 signal."""
    if sr_in == sr_out:
        return np.ascontiguousarray(x, dtype=np.float32)
    return soxr.resample(x.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(
        np.float32, copy=False
    )


class _Output:
    """The decoded signal at the target rate, written in place into one growing buffer (no
    list of blocks and final concatenate: peak memory stays near the output's own size).

    A signal decoded in one block (libsndfile reads a 30-s clip at once) is that block: the
    buffer is only made, and the first block copied into it, when a second block comes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 1024)
        self.first: np.ndarray | None = None  # the only block so far, not copied
        self.buf: np.ndarray | None = None
        self.n = 0

    def write(self, x: np.ndarray) -> None:
        if len(x) == 0:
            return
        if self.buf is None and self.first is None:
            self.first, self.n = x, len(x)
            return
        if self.buf is None:  # a second block: from now on one growing buffer
            first, self.first = self.first, None
            self.buf = np.zeros(max(self.capacity, self.n), dtype=np.float32)  # calloc
            self.buf[: self.n] = first
        end = self.n + len(x)
        if end > len(self.buf):
            self.buf.resize(max(end, int(len(self.buf) * 1.5)), refcheck=False)
        self.buf[self.n : end] = x
        self.n = end

    def result(self) -> np.ndarray:
        """``(n,)`` float32, C-contiguous."""
        if self.buf is None:
            first = self.first if self.first is not None else np.zeros(0, np.float32)
            return np.ascontiguousarray(first, dtype=np.float32)
        self.buf.resize(self.n, refcheck=False)  # realloc: shrinks in place
        return self.buf


class _Resampler:
    """soxr streaming resampler that follows sample-rate changes inside a stream."""

    def __init__(self, target_sr: int, out: _Output) -> None:
        self.target_sr, self.out = target_sr, out
        self.sr = 0
        self.stream: soxr.ResampleStream | None = None

    def feed(self, x: np.ndarray, sr: int) -> None:
        if sr != self.sr:
            self.flush()
            self.sr = sr
            self.stream = (
                None
                if sr == self.target_sr
                else soxr.ResampleStream(sr, self.target_sr, 1, "float32", "HQ")
            )
        self.out.write(x if self.stream is None else self.stream.resample_chunk(x))

    def flush(self) -> None:
        if self.stream is not None:
            self.out.write(self.stream.resample_chunk(np.zeros(0, np.float32), last=True))
            self.stream = None


def load(
    source: Source,
    target_sr: int = SAMPLE_RATE,
    limits: DecodeLimits = DecodeLimits(),
    sndfile: bool = True,
) -> tuple[np.ndarray, AudioInfo]:
    """Decode to mono float32 at ``target_sr``; returns it with the header's :class:`AudioInfo`.

    Checks the header first (sample rate; duration: :class:`AudioTooLongError` with
    ``from_header``), then counts decoded samples against ``max_seconds``, so a header that
    understates the length (a decode bomb) stops at the limit, and the wall-clock cap between
    packets (:class:`DecodeTimeoutError`). Anything that is not decodable audio raises
    :class:`AudioDecodeError`. ``sndfile=False`` decodes MP3 with FFmpeg too (benchmarks).
    """
    limit = limits.max_seconds
    with open_audio(source, limits.timeout_s, sndfile) as (info, blocks):
        if limits.max_sample_rate is not None and info.samplerate > limits.max_sample_rate:
            raise AudioDecodeError(
                f"unsupported sample rate {info.samplerate} Hz "
                f"(accepted: 1 to {limits.max_sample_rate} Hz)"
            )
        if limit is not None and info.duration > limit:
            raise AudioTooLongError(info.duration, limit, from_header=True)
        expected = info.duration if limit is None else min(info.duration, limit)
        out = _Output(int(expected * target_sr) + target_sr)
        resampler = _Resampler(target_sr, out)
        seconds = 0.0
        for block, sr in blocks:
            seconds += len(block) / sr
            if limit is not None and seconds > limit + 1 / sr:
                raise AudioTooLongError(seconds, limit)
            if not np.isfinite(block).all():
                raise AudioDecodeError("the decoded audio contains NaN or infinite samples")
            resampler.feed(block, sr)
        resampler.flush()
    return out.result(), info


def decode(
    source: Source,
    target_sr: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    timeout_s: float | None = None,
) -> np.ndarray:
    """Decode any supported audio to mono float32 at ``target_sr`` (see :func:`load`)."""
    return load(source, target_sr, DecodeLimits(max_seconds, timeout_s=timeout_s))[0]


def chunk_starts(n_samples: int, chunk_samples: int, n_chunks: int) -> np.ndarray:
    """Start offsets of ``n_chunks`` evenly spaced chunks covering the signal (literature eval).

    The first chunk starts at 0 and the last ends at the signal's end (Won et al. 2020 use
    a hop of ``(n - L) // n_chunks``; evenly spaced end-to-end covers the whole clip). A signal
    shorter than one chunk yields a single start at 0 (the caller pads).
    """
    if n_chunks < 1 or chunk_samples < 1:
        raise ValueError("n_chunks and chunk_samples must be positive")
    if n_samples <= chunk_samples:
        return np.zeros(1, dtype=np.int64)
    return np.round(np.linspace(0, n_samples - chunk_samples, n_chunks)).astype(np.int64)


def hop_starts(n_samples: int, chunk_samples: int, hop_samples: int) -> np.ndarray:
    """Start offsets of chunks every ``hop_samples``; the last chunk is aligned to the end."""
    if hop_samples < 1 or chunk_samples < 1:
        raise ValueError("hop_samples and chunk_samples must be positive")
    if n_samples <= chunk_samples:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - chunk_samples + 1, hop_samples, dtype=np.int64)
    if starts[-1] != n_samples - chunk_samples:
        starts = np.append(starts, n_samples - chunk_samples)
    return starts


def padded_length(n_samples: int, chunk_samples: int, lead: int = 0, tail: int = 0) -> int:
    """Length of a signal of ``n_samples`` after ``lead`` / ``tail`` zeros, and zeros at the end
    up to one chunk when it is shorter (what :func:`take_chunks` cuts from)."""
    return max(lead + n_samples + tail, chunk_samples)


def take_chunks(
    x: np.ndarray, starts: np.ndarray, chunk_samples: int, lead: int = 0, tail: int = 0
) -> np.ndarray:
    """Stack ``p[s:s+L]`` for each start into ``(len(starts), L)`` float32, where ``p`` is ``x``
    after ``lead`` zeros and before ``tail`` zeros, zero-padded at the end to at least ``L``
    (:func:`padded_length`). The padded signal is never built: each row copies only its
    samples of ``x`` and zeroes the rest."""
    n = padded_length(len(x), chunk_samples, lead, tail)
    # One slice copy per chunk into the output: a fancy index would first build an int64
    # (n_chunks, L) index array, 8 bytes of index per 4 of output.
    out = np.empty((len(starts), chunk_samples), dtype=np.float32)
    for row, start in zip(out, starts, strict=True):
        if not 0 <= start <= n - chunk_samples:
            raise IndexError(f"chunk start {start} outside 0..{n - chunk_samples}")
        a = int(start) - lead  # the row's first sample in x (negative: leading zeros)
        lo, hi = max(a, 0), min(a + chunk_samples, len(x))
        if lo == a and hi == a + chunk_samples:
            row[:] = x[lo:hi]  # the common case: the row lies inside x
            continue
        row[:] = 0
        if hi > lo:
            row[lo - a : hi - a] = x[lo:hi]
    return out


def encode_mp3(x: np.ndarray, path: str | Path | BinaryIO, sr: int = SAMPLE_RATE) -> None:
    """Write mono float audio as MP3 through libsndfile (LAME), peak-limited to avoid clipping."""
    x = np.asarray(x, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.99:
        x = x * (0.99 / peak)
    target = str(path) if isinstance(path, Path) else path
    sf.write(target, x, sr, format="MP3", subtype="MPEG_LAYER_III")
