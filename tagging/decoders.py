"""The decoders behind :mod:`tagging.audio`: FFmpeg (PyAV) for every format, libsndfile for
the MP3s it recognises; both yield mono float32 blocks at the source rate.

FFmpeg reads everything people upload (MP3 with any tags or junk before the first frame, M4A,
Ogg, WebM, WMA, video files...). libsndfile (mpg123) decodes small MP3 frames with less Python
work per frame (faster on MTAT's 16 kHz mono clips: ``python -m benchmarks.decode``, figures in
reports/decoding/), so an MP3 it opens goes to it, and anything it cannot sniff (ID3 tags it
misreads, junk before the first frame) goes to FFmpeg.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import numpy as np
import soundfile as sf

Source = str | Path | bytes | bytearray | memoryview | BinaryIO
Blocks = Iterator[tuple[np.ndarray, int]]
"""Decoded audio as ``(block, rate)``: a ``(n,)`` float32 mean of the channels in [-1, 1)."""

BLOCK_SAMPLES = 1 << 17
"""Source samples per FFmpeg block (~3 s at 44.1 kHz): few numpy/soxr calls per file, while a
long upload holds only one block at the source rate."""

SNDFILE_BLOCK_S = 30.0
"""libsndfile read size: a whole MTAT clip (29.1 s) in one call (libmpg123 prints spurious
"part2_3_length" errors when a read stops mid-stream), 11 MB for 48 kHz stereo."""

DEMUXERS = (
    "mp3,mov,mp4,m4a,3gp,3g2,mj2,ogg,matroska,webm,flac,wav,w64,aiff,asf,aac,avi,caf,au,ac3,eac3,"
    "dts,amr,mpeg,mpegts,flv,wv,ape,tta,mp2,mpc,mpc8,tak,voc,rm,shorten,truehd,mlp,oma,xwma"
)
"""FFmpeg demuxers allowed to open an input (``format_whitelist``): audio files and the common
video containers. Playlist and reference formats (HLS, concat, image sequences...) that could
make FFmpeg open other files or URLs are never probed."""

_OPEN_OPTIONS = {"format_whitelist": DEMUXERS, "protocol_whitelist": "none"}
"""``protocol_whitelist``: an input in memory or a file object opens no file or URL at all; a
path opens only itself (``file``, allowed only when the caller named a path)."""

_SAMPLE_DTYPES = {
    "u8": (np.uint8, 1 / 128, 128.0),
    "s16": (np.int16, 1 / 32768, 0.0),
    "s32": (np.int32, 1 / 2**31, 0.0),  # also 24-bit PCM/FLAC/ALAC (left-aligned in 32 bits)
    "s64": (np.int64, 1 / 2**63, 0.0),
    "flt": (np.float32, 1.0, 0.0),
    "dbl": (np.float64, 1.0, 0.0),
}
"""FFmpeg sample format (packed name) -> (numpy dtype, scale to [-1, 1), offset)."""


class AudioDecodeError(ValueError):
    """The input is not audio we can decode; the message says what was found, once."""


class AudioTooLongError(ValueError):
    """The audio lasts longer than the caller allows (from the header, or counted decoding)."""

    def __init__(self, duration: float, limit: float, from_header: bool = False) -> None:
        super().__init__(f"audio lasts {duration:.1f} s, more than the limit of {limit:.1f} s")
        self.duration = duration
        self.limit = limit
        self.from_header = from_header


class DecodeTimeoutError(ValueError):
    """Decoding took longer than the wall-clock cap."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"decoding took longer than the limit of {limit:g} s")
        self.limit = limit


@dataclass(frozen=True)
class AudioInfo:
    """What the header says about the audio stream (``frames`` may be estimated for MP3)."""

    samplerate: int
    channels: int
    frames: int
    format: str  # FFmpeg's demuxer name ("mp3", "ogg", "mov,mp4,m4a,3gp,3g2,mj2"...)
    codec: str = ""  # the decoder ("mp3float", "aac", "opus", "mpg123"...)

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def check_deadline(deadline: float | None, timeout_s: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise DecodeTimeoutError(float(timeout_s or 0))


# -- the source: a path, bytes, or a seekable file (the service's spooled upload) ------------
Input = str | bytes | BinaryIO


def as_input(source: Source) -> Input:
    """A path as ``str`` and a seekable file as itself (read in place, never copied whole);
    bytes-like objects as bytes, a stream that cannot seek read into bytes."""
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if getattr(source, "seekable", lambda: False)():
        return source
    return source.read()


def _reader(source: Input) -> str | BinaryIO:
    """What a decoder opens: the path, the file rewound, or the bytes wrapped (no copy)."""
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if not isinstance(source, str):
        source.seek(0)
    return source


def _size(source: Input) -> int:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, str):
        return os.path.getsize(source)
    return source.seek(0, io.SEEK_END)


def _head(source: Input, n: int) -> bytes:
    if isinstance(source, bytes):
        return source[:n]
    if isinstance(source, str):
        with open(source, "rb") as f:
            return f.read(n)
    source.seek(0)
    return source.read(n)


# -- libsndfile (MP3 only) -------------------------------------------------------------------
def _sndfile_mp3(source: Input) -> sf.SoundFile | None:
    """The source opened by libsndfile if it is an MP3 libsndfile recognises, else None."""
    if _head(source, 4) in (b"RIFF", b"fLaC", b"OggS", b"FORM"):
        return None  # not an MP3: skip the sniffing
    try:
        f = sf.SoundFile(_reader(source))
    except (sf.LibsndfileError, RuntimeError, TypeError, EOFError):
        return None
    if f.format == "MP3" and f.samplerate > 0 and f.channels > 0:
        return f
    f.close()
    return None


def _mono(block: np.ndarray) -> np.ndarray:
    """``(frames, channels)`` -> ``(frames,)`` channel mean, float32. The same numbers as
    ``block.mean(axis=1, dtype=float32)`` (one channel: x / 1; two: (a + b) / 2), without its
    strided reduction over rows of 1-2 values: 20x (mono) and 90x (stereo) faster. One channel
    is the block itself, seen as ``(frames,)`` (contiguous: no copy)."""
    if block.shape[1] == 1:
        return block.reshape(-1)
    if block.shape[1] == 2:
        return (block[:, 0] + block[:, 1]) / np.float32(2)
    return block.mean(axis=1, dtype=np.float32)


def _sndfile_blocks(f: sf.SoundFile, deadline: float | None, timeout_s: float | None) -> Blocks:
    sr = f.samplerate
    blocksize = max(int(SNDFILE_BLOCK_S * sr), 1024)
    try:
        while True:
            check_deadline(deadline, timeout_s)
            # read() returns only the frames really decoded (blocks() pads short reads of
            # truncated files with uninitialised memory). (frames, channels) float32.
            block = f.read(blocksize, dtype="float32", always_2d=True)
            if len(block) == 0:
                return
            yield _mono(block), sr
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(f"the MP3 stream is corrupt ({exc})") from exc


# -- FFmpeg ----------------------------------------------------------------------------------
def _ffmpeg_reason(exc: Exception) -> str:
    """FFmpeg's own words for an error, without the file name PyAV appends."""
    return str(getattr(exc, "strerror", None) or exc).strip() or type(exc).__name__


def _header_frames(stream, container, size: int) -> int:
    """Frame count from the header: the stream's duration, else the container's. Raw PCM
    headers are capped by the bytes really present (a WAV may declare 4 GiB of data)."""
    cc = stream.codec_context
    seconds = 0.0
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / av.time_base
    pcm = re.fullmatch(r"pcm_[suf](\d+)[lb]?e?(?:_planar)?", cc.name)
    if pcm:  # bits per sample from the codec name: pcm_s24le holds 24-bit samples in s32
        bytes_per_second = cc.sample_rate * max(cc.channels, 1) * int(pcm.group(1)) / 8
        seconds = min(seconds, size / bytes_per_second)
    return max(int(round(seconds * cc.sample_rate)), 0)


_CONTAINER_NAMES = {"mov": "MP4/MOV", "matroska": "Matroska/WebM", "asf": "ASF/WMA"}


def _audio_stream(container):
    """The first audio stream FFmpeg can decode, or an error naming what the file holds."""
    first = container.format.name.split(",")[0]
    kind = _CONTAINER_NAMES.get(first, first.upper())
    streams = list(container.streams.audio)
    if not streams:
        video = [s.codec_context.name for s in container.streams.video if s.codec_context]
        found = f" (it holds video only: {', '.join(video)})" if video else ""
        raise AudioDecodeError(f"no audio stream in the {kind} file{found}")
    for stream in streams:
        if stream.codec_context is not None:
            if not stream.codec_context.sample_rate:
                raise AudioDecodeError(f"the {stream.codec_context.name} stream has no sample rate")
            return stream
    raise AudioDecodeError(f"unsupported audio codec in the {kind} file")


def _mix(parts: list[tuple[int, tuple]], kind: tuple[str, int, int]) -> np.ndarray:
    """Frames' planes (kept uncopied) -> one float32 block of the channel mean in [-1, 1)."""
    fmt, channels, _ = kind
    dtype, scale, offset = _SAMPLE_DTYPES[fmt.rstrip("p")]
    planar = fmt.endswith("p")
    width = np.dtype(dtype).itemsize * (1 if planar else channels)  # bytes per sample

    def joined(ch: int) -> np.ndarray:  # one channel (planar) or all (packed), in order
        # A plane's buffer may be padded past its samples (FFmpeg aligns line sizes).
        data = b"".join(
            p[ch] if p[ch].buffer_size == n * width else memoryview(p[ch])[: n * width]
            for n, p in parts
        )
        return np.frombuffer(data, dtype)

    if planar:
        block = joined(0).astype(np.float32)
        for ch in range(1, channels):
            block += joined(ch)
    elif channels > 1:
        block = joined(0).reshape(-1, channels).sum(axis=1, dtype=np.float32)
    else:
        block = joined(0).astype(np.float32)
    if offset:
        block -= np.float32(offset * channels)
    if scale / channels != 1.0:
        block *= np.float32(scale / channels)
    return block


def _ffmpeg_blocks(container, stream, deadline: float | None, timeout_s: float | None) -> Blocks:
    """Demux -> decode -> mix. An MTAT clip has ~800 MP3 frames, so per frame we only keep its
    planes (refcounted FFmpeg buffers); a packet FFmpeg cannot decode is skipped (as ffmpeg
    does), a stream where nothing decodes is an error, a demuxer error ends the stream."""
    cc = stream.codec_context
    decode = cc.decode
    errors, decoded, last_error = 0, 0, ""
    parts: list[tuple[int, tuple]] = []
    pending, kind = 0, ("", 0, 0)  # samples waiting in parts; (sample format, channels, rate)
    try:
        for packet in container.demux(stream):
            check_deadline(deadline, timeout_s)
            try:
                frames = decode(packet)
            except av.error.FFmpegError as exc:
                errors, last_error = errors + 1, _ffmpeg_reason(exc)
                continue
            for frame in frames:
                n = frame.samples
                frame_kind = (frame.format.name, frame.layout.nb_channels, frame.sample_rate)
                if pending and (frame_kind != kind or pending + n > BLOCK_SAMPLES):
                    yield _mix(parts, kind), kind[2]
                    parts, pending = [], 0
                kind = frame_kind
                parts.append((n, frame.planes))
                pending += n
                decoded += 1
    except av.error.FFmpegError as exc:  # a demuxer error mid-file: keep what was read
        errors, last_error = errors + 1, _ffmpeg_reason(exc)
    if decoded == 0 and errors:
        raise AudioDecodeError(f"the {cc.name} audio stream is corrupt ({last_error})")
    if parts:
        yield _mix(parts, kind), kind[2]


@contextmanager
def _ffmpeg(source: Input) -> Iterator[tuple[AudioInfo, object, object]]:
    size = _size(source)
    # A path opens only itself (the "file" protocol); a file object needs no protocol at all.
    options = _OPEN_OPTIONS | ({"protocol_whitelist": "file"} if isinstance(source, str) else {})
    try:
        container = av.open(_reader(source), "r", options=options, metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError, TypeError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise AudioDecodeError("not a known audio or video format") from exc
    try:
        stream = _audio_stream(container)
        cc = stream.codec_context
        frames = _header_frames(stream, container, size)
        info = AudioInfo(cc.sample_rate, cc.channels, frames, container.format.name, cc.name)
        yield info, container, stream
    finally:
        container.close()


# -- either ----------------------------------------------------------------------------------
@contextmanager
def open_audio(
    source: Source, timeout_s: float | None = None, sndfile: bool = True
) -> Iterator[tuple[AudioInfo, Blocks]]:
    """``(header info, blocks)`` of the source's audio; ``sndfile=False`` forces FFmpeg."""
    source = as_input(source)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    f = _sndfile_mp3(source) if sndfile else None
    if f is not None:
        with f:
            info = AudioInfo(f.samplerate, f.channels, max(int(f.frames), 0), "mp3", "mpg123")
            yield info, _sndfile_blocks(f, deadline, timeout_s)
        return
    with _ffmpeg(source) as (info, container, stream):
        yield info, _ffmpeg_blocks(container, stream, deadline, timeout_s)
