"""Decoding (tagging.audio.load/decode): every accepted format, downmix, limits, errors.

Fixtures are encoded in the tests with FFmpeg (tests/audio_formats.py), once per session.
"""

from __future__ import annotations

import io
import struct
import tempfile

import numpy as np
import pytest
import soundfile as sf

from tagging.audio import (
    AudioDecodeError,
    AudioTooLongError,
    DecodeLimits,
    DecodeTimeoutError,
    decode,
    load,
    probe,
)
from tests.audio_formats import Case, cached_cases, encode, lying_flac, signal, video_only
from tests.paths import JAMENDO_44K_STEREO, MTAT_CLIP

CASES = sorted(cached_cases())


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return cached_cases()


@pytest.mark.parametrize("name", CASES)
def test_every_format_decodes_to_16k_mono_of_the_true_length(
    cases: dict[str, Case], name: str
) -> None:
    case = cases[name]
    x, info = load(case.data)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) / 16000 == pytest.approx(case.seconds, abs=0.1)
    assert info.duration == pytest.approx(case.seconds, abs=0.1)  # the header, before decoding
    assert 0.05 < float(np.sqrt(np.mean(x**2))) < 0.5  # the signal, not silence or noise


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("mp3")])
def test_libsndfile_and_ffmpeg_agree_on_every_mp3(cases: dict[str, Case], name: str) -> None:
    fast, info = load(cases[name].data)
    ffmpeg, _ = load(cases[name].data, sndfile=False)
    assert len(fast) == len(ffmpeg)
    np.testing.assert_allclose(fast, ffmpeg, atol=1e-5)
    # junk before the first frame is what libsndfile cannot sniff: FFmpeg takes those
    assert (info.codec == "mp3float") == ("junk" in name)


def test_real_mp3s_decode_the_same_with_both_decoders() -> None:
    for path in (MTAT_CLIP, JAMENDO_44K_STEREO):
        a, b = decode(path), load(path.read_bytes(), sndfile=False)[0]
        assert len(a) == len(b)
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_surround_is_the_mean_of_its_channels() -> None:
    x = signal(1.0, 16000, 6)
    data = encode("wav", "pcm_f32le", 16000, "5.1", seconds=1.0)
    np.testing.assert_allclose(decode(data), x.mean(axis=0), atol=1e-6)


@pytest.mark.parametrize(("codec", "atol"), [("pcm_s16le", 1e-4), ("pcm_s24le", 1e-6)])
def test_integer_pcm_is_scaled_to_unit_range(codec: str, atol: float) -> None:
    x = signal(1.0, 16000, 2)
    got = decode(encode("wav", codec, 16000, "stereo", seconds=1.0))
    np.testing.assert_allclose(got, x.mean(axis=0), atol=atol)


def test_path_and_bytes_give_the_same_samples(tmp_path) -> None:
    data = cached_cases()["m4a_aac_stereo"].data
    (tmp_path / "a.m4a").write_bytes(data)
    np.testing.assert_array_equal(decode(tmp_path / "a.m4a"), decode(data))
    np.testing.assert_array_equal(decode(io.BytesIO(data)), decode(data))
    for max_size in (0, len(data) + 1):  # the service's spooled upload, on disk and in memory
        with tempfile.SpooledTemporaryFile(max_size=max_size) as spool:
            spool.write(data)
            np.testing.assert_array_equal(decode(spool), decode(data))
    mp3 = cached_cases()["mp3_id3v23_cover_300kb"].data
    with tempfile.SpooledTemporaryFile(max_size=0) as spool:
        spool.write(mp3)
        np.testing.assert_array_equal(decode(spool), decode(mp3))  # libsndfile reads files too


# -- limits ---------------------------------------------------------------------------------
def test_too_long_is_refused_from_the_header_before_decoding() -> None:
    with pytest.raises(AudioTooLongError) as err:
        load(lying_flac(3.0, claimed_s=100.0), limits=DecodeLimits(max_seconds=10))
    assert err.value.from_header and err.value.duration == pytest.approx(100.0)


def test_a_header_that_understates_the_length_stops_at_the_limit() -> None:
    data = lying_flac(40.0, claimed_s=1.0)
    assert probe(data).duration == pytest.approx(1.0)
    with pytest.raises(AudioTooLongError) as err:
        load(data, limits=DecodeLimits(max_seconds=5))
    assert not err.value.from_header
    assert 5 < err.value.duration < 40  # stopped within one block (16 s at 8 kHz) of the limit
    assert len(decode(data)) == 40 * 16000  # without a limit, everything that is there


def test_the_wall_clock_cap_stops_decoding() -> None:
    with pytest.raises(DecodeTimeoutError, match="limit of 1e-09 s"):
        load(cached_cases()["flac_stereo"].data, limits=DecodeLimits(timeout_s=1e-9))
    with pytest.raises(DecodeTimeoutError):
        load(MTAT_CLIP.read_bytes(), limits=DecodeLimits(timeout_s=1e-9))


def test_sample_rate_limit() -> None:
    data = cached_cases()["flac_stereo"].data
    with pytest.raises(AudioDecodeError, match="unsupported sample rate 44100 Hz"):
        load(data, limits=DecodeLimits(max_sample_rate=22050))


def test_a_wav_declaring_4_gib_is_measured_by_its_bytes() -> None:
    buf = io.BytesIO()
    sf.write(buf, signal(2.0, 16000, 1)[0], 16000, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    data[40:44] = struct.pack("<I", 0xFFFFFF00)
    assert probe(bytes(data)).duration == pytest.approx(2.0, abs=0.01)


# -- errors name what was found, once ---------------------------------------------------------
def test_video_without_audio_says_so() -> None:
    with pytest.raises(AudioDecodeError) as err:
        load(video_only())
    assert str(err.value) == "no audio stream in the MP4/MOV file (it holds video only: mpeg4)"


def test_unknown_codec_says_so() -> None:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(16000, np.float32), 16000, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    data[20:22] = struct.pack("<H", 0x7777)  # WAVE format tag no decoder knows
    with pytest.raises(AudioDecodeError, match="^unsupported audio codec in the WAV file$"):
        load(bytes(data))


@pytest.mark.parametrize(
    "data",
    [
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile /etc/passwd\n",
        b"hello, this is not music\n" * 100,
    ],
    ids=["hls_playlist", "concat_list", "text"],
)
def test_playlists_and_text_are_not_opened(data: bytes) -> None:
    with pytest.raises(AudioDecodeError, match="^not a known audio or video format$"):
        load(data)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_channel_mix_is_bit_identical_to_the_numpy_mean(channels: int) -> None:
    from tagging.decoders import _mono

    stereo = sf.read(JAMENDO_44K_STEREO, dtype="float32", always_2d=True)[0]  # (n, 2) real
    block = np.concatenate([stereo, stereo[:, :1]], axis=1)[:, :channels]
    assert np.array_equal(_mono(block), block.mean(axis=1, dtype=np.float32))


def test_a_mono_block_is_not_copied() -> None:
    from tagging.decoders import _mono

    block = np.random.default_rng(0).standard_normal((1000, 1)).astype(np.float32)
    mono = _mono(block)
    assert mono.shape == (1000,) and np.shares_memory(mono, block)


def test_one_block_is_the_output_and_more_are_joined() -> None:
    """A clip decoded in one block (libsndfile's 30-s read) is returned as that block; from the
    second block on, blocks are copied into one buffer, in order; empty blocks add nothing."""
    from tagging.audio import _Output

    rng = np.random.default_rng(1)
    blocks = [rng.standard_normal(n).astype(np.float32) for n in (700, 0, 300, 1500)]
    one = _Output(10)
    one.write(blocks[0])
    assert one.result() is blocks[0]
    several = _Output(800)  # capacity below the total: the buffer grows
    for b in blocks:
        several.write(b)
    out = several.result()
    np.testing.assert_array_equal(out, np.concatenate(blocks))
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert not any(np.shares_memory(out, b) for b in blocks)
    nothing = _Output(10)
    nothing.write(blocks[1])
    assert nothing.result().shape == (0,) and nothing.result().dtype == np.float32


def test_the_mtat_clip_decodes_without_a_copy_of_its_samples() -> None:
    """libsndfile reads the 29.1-s clip in one block: the mono output is that block's memory."""
    x, info = load(MTAT_CLIP)
    assert info.codec == "mpg123" and x.dtype == np.float32 and x.flags.c_contiguous
    base = x.base  # libsndfile's (frames, 1) read (frames: as its header said), viewed
    assert base is not None and base.shape[1] == 1 and len(x) <= len(base) < 1.01 * len(x)
