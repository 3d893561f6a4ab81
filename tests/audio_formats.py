"""Every accepted upload format, encoded in the tests with FFmpeg (PyAV): plain builders.

:func:`format_cases` returns short clips (2.5 s) of each container/codec/layout the service
accepts, with the true duration; :func:`cached_cases` builds them once per test session.
Tags (ID3v2.3/2.4 with a cover of several hundred KB, ID3v1, two tags in a row) and junk
before the first frame are written by hand, byte by byte, as real files carry them.
"""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass

import av
import numpy as np

SECONDS = 2.5
LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "5.1": 6}


@dataclass(frozen=True)
class Case:
    """One encoded clip: its bytes, an upload file name and the true duration in seconds."""

    name: str
    data: bytes
    filename: str
    seconds: float


def signal(seconds: float, sr: int, channels: int, seed: int = 0) -> np.ndarray:
    """(channels, n) float32: a sweep with a slow envelope, a little different per channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    freq = 220.0 + 660.0 * t / seconds
    env = 0.2 + 0.15 * np.sin(2 * np.pi * 0.3 * t)
    x = env * np.sin(2 * np.pi * np.cumsum(freq) / sr) + 0.01 * rng.normal(size=t.shape)
    return np.stack([x * (1.0 - 0.1 * c) for c in range(channels)]).astype(np.float32)


def encode(
    fmt: str,
    codec: str,
    sr: int,
    layout: str = "stereo",
    seconds: float = SECONDS,
    bit_rate: int | None = None,
    vbr_quality: int | None = None,
    container_options: dict[str, str] | None = None,
    video: bool = False,
) -> bytes:
    """Encode :func:`signal` with FFmpeg into ``fmt`` (a muxer name) with ``codec``; ``video``
    adds a small MPEG-4 video track before the audio (a phone video, a music video)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, options=container_options or {}) as out:
        vstream = None
        if video:
            vstream = out.add_stream("mpeg4", rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        stream = out.add_stream(codec, rate=sr)
        cc = stream.codec_context
        cc.layout = layout
        cc.format = cc.codec.audio_formats[0].name
        if bit_rate:
            cc.bit_rate = bit_rate
        if vbr_quality is not None:  # LAME -q:a N (VBR)
            cc.qscale = True
            cc.global_quality = vbr_quality * 118  # FF_QP2LAMBDA
        if codec in ("vorbis", "opus"):
            cc.options = {"strict": "experimental"}
        x = signal(seconds, sr, LAYOUT_CHANNELS[layout])
        frame = av.AudioFrame.from_ndarray(x, format="fltp", layout=layout)
        frame.sample_rate = sr
        frame.pts = 0
        resampler = av.AudioResampler(cc.format.name, layout, sr, frame_size=1024)
        frames = resampler.resample(frame) + resampler.resample(None)
        if vstream is not None:
            picture = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), "rgb24")
            for i in range(int(seconds * 10)):
                picture.pts = i
                out.mux(vstream.encode(picture.reformat(format="yuv420p")))
            out.mux(vstream.encode(None))
        for f in frames:
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return buf.getvalue()


# -- MP3 tags, by hand ---------------------------------------------------------------------------
def _synchsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def id3v2(version: int, title: str, cover_bytes: int = 0, padding: int = 0) -> bytes:
    """An ID3v2.3 or 2.4 tag: TIT2, TPE1 and, with ``cover_bytes``, an APIC front cover."""
    encoding, text = (3, "utf-8") if version == 4 else (0, "latin-1")
    frames = [
        ("TIT2", bytes([encoding]) + title.encode(text)),
        ("TPE1", bytes([encoding]) + b"Test Artist"),
    ]
    if cover_bytes:
        jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + np.random.default_rng(7).bytes(cover_bytes)
        frames.append(("APIC", b"\x00image/jpeg\x00\x03cover\x00" + jpeg + b"\xff\xd9"))
    body = b""
    for fid, payload in frames:
        size = _synchsafe(len(payload)) if version == 4 else struct.pack(">I", len(payload))
        body += fid.encode() + size + b"\x00\x00" + payload
    body += bytes(padding)
    return b"ID3" + bytes([version, 0, 0]) + _synchsafe(len(body)) + body


def id3v1(title: str) -> bytes:
    """A 128-byte ID3v1 trailer."""
    field = lambda s, n: s.encode("latin-1")[:n].ljust(n, b"\x00")  # noqa: E731
    return (
        b"TAG"
        + field(title, 30)
        + field("Artist", 30)
        + field("Album", 30)
        + b"2026"
        + field("comment", 30)
        + bytes([12])
    )


def mp3(sr: int, layout: str, **kwargs) -> bytes:
    """A bare MP3 (Xing/LAME header, no tags) from LAME."""
    opts = {"id3v2_version": "0", "write_id3v1": "0"}
    return encode("mp3", "libmp3lame", sr, layout, container_options=opts, **kwargs)


def _mp3_cases() -> list[Case]:
    cases = [
        Case("mp3_mpeg1_44k_stereo_cbr", mp3(44100, "stereo", bit_rate=128_000), "a.mp3", SECONDS),
        Case("mp3_mpeg1_48k_stereo_vbr", mp3(48000, "stereo", vbr_quality=4), "b.mp3", SECONDS),
        Case("mp3_mpeg1_32k_mono_cbr", mp3(32000, "mono", bit_rate=64_000), "c.mp3", SECONDS),
        Case("mp3_mpeg2_22k_mono_vbr", mp3(22050, "mono", vbr_quality=6), "d.mp3", SECONDS),
        Case("mp3_mpeg2_16k_stereo_cbr", mp3(16000, "stereo", bit_rate=48_000), "e.mp3", SECONDS),
        Case("mp3_mpeg25_8k_mono_cbr", mp3(8000, "mono", bit_rate=16_000), "f.mp3", SECONDS),
        Case("mp3_mpeg25_11k_stereo_vbr", mp3(11025, "stereo", vbr_quality=5), "g.mp3", SECONDS),
    ]
    base = mp3(44100, "stereo", bit_rate=128_000)
    tagged = {
        "mp3_id3v23_cover_300kb": id3v2(3, "Cover 2.3", cover_bytes=300_000) + base,
        "mp3_id3v24_cover_600kb_id3v1": id3v2(4, "Cover 2.4", cover_bytes=600_000)
        + base
        + id3v1("Trailer"),
        "mp3_id3v1_only": base + id3v1("Only v1"),
        "mp3_two_id3v2_tags": id3v2(4, "First", padding=2048) + id3v2(3, "Second") + base,
        "mp3_4kb_junk_before_first_frame": bytes(range(256)) * 16 + base,
        "mp3_id3v2_then_junk": id3v2(3, "Junk after tag", cover_bytes=20_000)
        + b"\x00" * 1000
        + np.random.default_rng(3).integers(0, 0xE0, 3000, dtype=np.uint8).tobytes()
        + base,
    }
    cases += [Case(name, data, f"{name}.mp3", SECONDS) for name, data in tagged.items()]
    return cases


def format_cases() -> list[Case]:
    """Every accepted format (plus the MP3 variants), 2.5 s each."""
    cases = _mp3_cases()
    other = [
        ("m4a_aac_stereo", "ipod", "aac", 44100, "stereo", "a.m4a"),
        ("m4a_aac_5.1", "ipod", "aac", 48000, "5.1", "b.m4a"),
        ("mp4_aac_mono", "mp4", "aac", 22050, "mono", "c.mp4"),
        ("m4a_alac_stereo", "ipod", "alac", 44100, "stereo", "d.m4a"),
        ("ogg_opus_stereo", "ogg", "libopus", 48000, "stereo", "a.opus"),
        ("ogg_opus_5.1", "ogg", "libopus", 48000, "5.1", "b.ogg"),
        ("ogg_vorbis_stereo", "ogg", "vorbis", 44100, "stereo", "c.ogg"),
        ("webm_opus_mono", "webm", "libopus", 48000, "mono", "a.webm"),
        ("webm_vorbis_stereo", "webm", "vorbis", 44100, "stereo", "b.webm"),
        ("flac_stereo", "flac", "flac", 44100, "stereo", "a.flac"),
        ("flac_5.1", "flac", "flac", 48000, "5.1", "b.flac"),
        ("wav_s16_stereo", "wav", "pcm_s16le", 44100, "stereo", "a.wav"),
        ("wav_s24_mono", "wav", "pcm_s24le", 48000, "mono", "b.wav"),
        ("wav_s32_stereo", "wav", "pcm_s32le", 32000, "stereo", "c.wav"),
        ("wav_float_5.1", "wav", "pcm_f32le", 48000, "5.1", "d.wav"),
        ("aiff_s16_stereo", "aiff", "pcm_s16be", 44100, "stereo", "a.aiff"),
        ("wma_v2_stereo", "asf", "wmav2", 44100, "stereo", "a.wma"),
    ]
    for name, fmt, codec, sr, layout, filename in other:
        rate = 128_000 if codec == "wmav2" else None
        cases.append(Case(name, encode(fmt, codec, sr, layout, bit_rate=rate), filename, SECONDS))
    cases.append(
        Case("mp4_video_with_aac", encode("mp4", "aac", 44100, video=True), "v.mp4", SECONDS)
    )
    cases.append(
        Case(
            "mkv_video_with_opus",
            encode("matroska", "libopus", 48000, video=True),
            "v.mkv",
            SECONDS,
        )
    )
    return cases


def lying_flac(seconds: float, claimed_s: float, sr: int = 8000) -> bytes:
    """A FLAC whose STREAMINFO claims ``claimed_s`` while ``seconds`` are really there."""
    data = bytearray(encode("flac", "flac", sr, "mono", seconds=seconds))
    at = 8 + 10  # "fLaC" + block header, then STREAMINFO bytes 10..17: rate, channels, bits, total
    packed = int.from_bytes(data[at : at + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | int(claimed_s * sr)
    data[at : at + 8] = packed.to_bytes(8, "big")
    return bytes(data)


def video_only() -> bytes:
    """An MP4 with an MPEG-4 video track and no audio."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vstream = out.add_stream("mpeg4", rate=10)
        vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        picture = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), "rgb24")
        for i in range(20):
            picture.pts = i
            out.mux(vstream.encode(picture.reformat(format="yuv420p")))
        out.mux(vstream.encode(None))
    return buf.getvalue()


@functools.cache
def cached_cases() -> dict[str, Case]:
    """:func:`format_cases` built once per session (tests/app and tests/training share it)."""
    return {c.name: c for c in format_cases()}
