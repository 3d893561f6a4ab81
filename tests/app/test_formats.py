"""Every accepted upload format through the real app (POST /predict), and decoding's limits.

Fixtures are encoded in the tests with FFmpeg (tests/audio_formats.py), once per session:
MP3 variants (MPEG-1/2/2.5, CBR/VBR, ID3 tags with covers, junk before the first frame), AAC and
ALAC in M4A/MP4, Opus/Vorbis in Ogg/WebM, FLAC, WAV, AIFF, WMA, video files with audio.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.audio_formats import Case, cached_cases, lying_flac, video_only

CASES = sorted(cached_cases())


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return cached_cases()


@pytest.fixture(scope="module")
def client(models_dir: Path):
    settings = Settings(models_dir=models_dir, providers="cpu", max_duration_s=20)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def post(client: TestClient, data: bytes, name: str):
    return client.post("/predict?model=gamma", files={"file": (name, data)})


@pytest.mark.parametrize("name", CASES)
def test_every_format_is_tagged_with_its_true_duration(
    client: TestClient, cases: dict[str, Case], name: str
) -> None:
    case = cases[name]
    r = post(client, case.data, case.filename)
    assert r.status_code == 200, r.text
    assert r.json()["duration_s"] == pytest.approx(case.seconds, abs=0.1)


def test_no_5xx_over_cut_and_damaged_fixtures(client: TestClient, cases: dict[str, Case]) -> None:
    """Cut each fixture at 1/3 and 2 KB, and flip bytes in its middle: 200, 400, 413 or 415."""
    statuses = set()
    for case in cases.values():
        data = case.data
        middle = bytearray(data)
        middle[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
        for variant in (data[: len(data) // 3], data[:2048], bytes(middle)):
            r = post(client, variant, case.filename)
            assert r.status_code in (200, 400, 413, 415), (case.name, r.status_code, r.text)
            statuses.add(r.status_code)
    assert 200 in statuses and 415 in statuses
    assert client.get("/readyz").status_code == 200


def test_video_without_audio_is_415_saying_so_once(client: TestClient) -> None:
    r = post(client, video_only(), "clip.mp4")
    assert r.status_code == 415, r.text
    assert r.json()["detail"] == (
        "could not decode the upload: no audio stream in the MP4/MOV file "
        "(it holds video only: mpeg4)"
    )


def test_415_names_the_problem_once_without_internals(client: TestClient) -> None:
    # An ID3 tag passes the header sniff (app.sniff); what follows it is text.
    data = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"hello, not music\n" * 100
    detail = post(client, data, "song.mp3").json()["detail"]
    assert detail == "could not decode the upload: not a known audio or video format"
    assert detail.count("decod") == 1 and "/" not in detail and "BytesIO" not in detail


def test_lying_header_stops_at_the_limit_with_413(client: TestClient) -> None:
    r = post(client, lying_flac(30.0, claimed_s=1.0), "bomb.flac")
    assert r.status_code == 413, r.text
    body = r.json()
    assert "stopped decoding" in body["detail"] and body["max_duration_s"] == 20


def test_decode_timeout_is_a_setting(models_dir: Path, cases: dict[str, Case]) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", decode_timeout_s=1e-6)
    with TestClient(create_app(settings)) as c:
        r = post(c, cases["flac_stereo"].data, "a.flac")
    assert r.status_code == 413, r.text
    assert "to decode" in r.json()["detail"] and r.json()["max_decode_s"] == 1e-6


def test_max_sample_rate_is_a_setting(models_dir: Path, cases: dict[str, Case]) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", max_sample_rate=32000)
    with TestClient(create_app(settings)) as c:
        r = post(c, cases["flac_stereo"].data, "a.flac")
        assert r.status_code == 415 and "44100 Hz" in r.json()["detail"]
        assert post(c, cases["mp3_mpeg2_22k_mono_vbr"].data, "a.mp3").status_code == 200
