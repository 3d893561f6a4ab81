"""Every error path of the service with its exact status, through real HTTP (httpx).

Nothing an upload contains may give a 500 or take the server down; the last test checks the
service still answers correctly after all of them.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import anyio
import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, lifespan_client, make_models_dir, tone, write_model
from tests.paths import MTAT_CLIP


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("errors")
    models = make_models_dir(root / "models")
    # A valid model just outside the models directory: reachable only through path tricks.
    write_model(root, "outside", 16_000, 0.99, seed=9)
    # A folder with an unusable card and one with a corrupt ONNX file.
    (models / "badcard").mkdir()
    (models / "badcard" / "model.onnx").write_bytes(b"not onnx")
    (models / "badcard" / "card.json").write_text('{"tags": []}')
    write_model(models, "broken", 16_000, 0.5)
    (models / "broken" / "model.onnx").write_bytes(b"\x08\x07garbage")
    return models


@pytest.fixture(scope="module")
def client(models_dir: Path):
    settings = Settings(models_dir=models_dir, providers="cpu", max_duration_s=60)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def post(client: TestClient, data: bytes, name: str = "x.mp3", query: str = "") -> httpx.Response:
    return client.post("/predict" + query, files={"file": (name, data, "application/octet-stream")})


def assert_error(r: httpx.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"]
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def wav_bytes(x: np.ndarray, subtype: str = "PCM_16", sr: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


# -- 422: missing file, bad query values -----------------------------------------------------
def test_no_file_is_422(client: TestClient) -> None:
    body = assert_error(client.post("/predict"), 422, "file")
    assert body["errors"][0]["loc"][-1] == "file"
    assert_error(client.post("/predict", files={"audio": ("a.mp3", b"abc")}), 422, "file")
    assert_error(client.post("/predict", data={"file": "not a file"}), 422, "file")


@pytest.mark.parametrize(
    "query",
    ["?top_k=0", "?top_k=-3", "?top_k=abc", "?top_k=1.5", "?segments=maybe", "?top_k=11"],
)
def test_bad_query_values_are_422(client: TestClient, query: str) -> None:
    data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    body = assert_error(post(client, data, "a.wav", query), 422)
    assert ("top_k" in body["detail"]) or ("segments" in body["detail"])


# -- 415: not audio -------------------------------------------------------------------------
def _sine_mp3() -> bytes:
    t = np.arange(48_000) / SAMPLE_RATE
    return audio_bytes((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SAMPLE_RATE, "MP3")


NOT_AUDIO = {
    "text": (b"hello, this is not music\n" * 200, "notes.txt"),
    "png": (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(300), "cover.png"),
    "random_mp3": (np.random.default_rng(1).bytes(20_000), "random.mp3"),
    "mp3_first_100_bytes": (_sine_mp3()[:100], "cut.mp3"),
    "nan_float_wav": (wav_bytes(np.full(32_000, np.nan, np.float32), "FLOAT"), "nan.wav"),
    "inf_float_wav": (wav_bytes(np.full(32_000, np.inf, np.float32), "FLOAT"), "inf.wav"),
    "json": (b'{"file": "song.mp3"}', "song.mp3"),
}


@pytest.mark.parametrize("case", sorted(NOT_AUDIO))
def test_not_audio_is_415(client: TestClient, case: str) -> None:
    data, name = NOT_AUDIO[case]
    body = assert_error(post(client, data, name), 415, "decod")
    assert "BytesIO" not in body["detail"]  # no internals in messages


# -- 400: empty or too short ----------------------------------------------------------------
def test_empty_upload_is_400(client: TestClient) -> None:
    assert_error(post(client, b""), 400, "empty")


def test_wav_header_without_data_is_400(client: TestClient) -> None:
    header_only = wav_bytes(tone(1.0))[:44]
    assert_error(post(client, header_only, "h.wav"), 400, "no audio samples")


def test_too_short_is_400_with_the_minimum(client: TestClient) -> None:
    body = assert_error(post(client, wav_bytes(tone(0.5)), "s.wav"), 400, "minimum")
    assert body["duration_s"] == pytest.approx(0.5) and body["min_duration_s"] == 1.0


def test_min_duration_is_a_setting(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", min_duration_s=0.25)
    with TestClient(create_app(settings)) as c:
        r = post(c, wav_bytes(tone(0.5)), "s.wav")
    assert r.status_code == 200 and r.json()["n_chunks"] == 1


# -- 413: too long / too large --------------------------------------------------------------
def test_too_long_is_413_from_the_header(client: TestClient) -> None:
    # 100 s of silence as FLAC is a few KB: the header says 100 s > the 60 s limit.
    data = audio_bytes(np.zeros(100 * 8000, np.float32), 8000, "FLAC", "PCM_16")
    assert len(data) < 100_000
    body = assert_error(post(client, data, "long.flac"), 413, "limit")
    assert body["duration_s"] == pytest.approx(100.0) and body["max_duration_s"] == 60


def test_huge_declared_wav_length_is_not_trusted(client: TestClient) -> None:
    data = bytearray(wav_bytes(tone(2.0)))
    data[4:8] = struct.pack("<I", 0xFFFFFFF0)  # RIFF size
    data[40:44] = struct.pack("<I", 0xFFFFFF00)  # data chunk size: ~4 GiB declared
    r = post(client, bytes(data), "huge.wav")
    assert r.status_code == 200, r.text  # libsndfile reads the 2 s that are really there
    assert r.json()["duration_s"] == pytest.approx(2.0)


def test_truncated_mp3_with_a_longer_header_is_never_a_500(client: TestClient) -> None:
    # Its Xing header promises 3 s but only ~0.6 s is there: decode() returns only the frames
    # really decoded (never uninitialised memory), so the answer is the "too short" 400.
    data = _sine_mp3()
    for _ in range(3):  # deterministic, request after request
        r = post(client, data[: len(data) // 3], "cut.mp3")
        body = assert_error(r, 400, "less than the minimum")
        assert 0.4 < body["duration_s"] < 0.8


def test_truncated_real_mp3_tags_what_is_there(client: TestClient) -> None:
    data = MTAT_CLIP.read_bytes()
    r = post(client, data[: len(data) // 2], "half.mp3")
    assert r.status_code == 200, r.text
    assert 10 < r.json()["duration_s"] < 20


def test_body_over_the_limit_is_413_from_content_length(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", max_upload_mb=0.05)
    with TestClient(create_app(settings)) as c:
        body = assert_error(post(c, MTAT_CLIP.read_bytes()), 413, "too large")
        assert body["max_bytes"] == int(0.05 * 1024 * 1024)
        small = audio_bytes(tone(2.0), SAMPLE_RATE, "MP3")
        assert post(c, small).status_code == 200


@pytest.mark.anyio
async def test_chunked_upload_is_cut_off_while_streaming(models_dir: Path) -> None:
    """No Content-Length: the middleware counts bytes and stops before the body ends."""
    limit_mb = 0.25
    app = create_app(Settings(models_dir=models_dir, providers="cpu", max_upload_mb=limit_mb))
    piece = 16 * 1024
    total_pieces = 200  # 3.2 MiB in all
    sent = 0
    boundary = "b0undary"

    async def body():
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.mp3"\r\n'
            "Content-Type: audio/wav\r\n\r\nRIFF\0\0\0\0WAVE"  # passes the header sniff
        ).encode()
        for _ in range(total_pieces):
            sent += 1
            yield bytes(piece)
        yield f"\r\n--{boundary}--\r\n".encode()

    async with lifespan_client(app) as c:
        r = await c.post(
            "/predict",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert "content-length" not in r.request.headers
        assert r.status_code == 413, r.text
        assert "too large" in r.json()["detail"]
        # Cut off right after passing the limit; then at most as much again is read and dropped
        # (TAGGER_REFUSED_DRAIN_MB, the upload limit by default): far fewer than the 200 pieces.
        assert sent <= 2 * limit_mb * 1024 * 1024 / piece + 2
        # A normal upload on the same app still works.
        ok = await c.post("/predict", files={"file": ("a.wav", wav_bytes(tone(2.0)))})
        assert ok.status_code == 200, ok.text
    await anyio.sleep(0)


# -- 404: unknown models and path tricks ----------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "nope",
        "../outside",
        "..%2Foutside",
        "%2E%2E%2Foutside",
        "alpha/../outside",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "..",
        ".",
        "",
        "ALPHA",
        "alpha%00",
    ],
)
def test_unknown_or_unsafe_model_names_are_404(
    client: TestClient, models_dir: Path, name: str
) -> None:
    assert (models_dir.parent / "outside" / "model.onnx").is_file()
    data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    # The name is sent as a raw query string, so percent-escapes reach the server as written.
    r = client.post(f"/predict?model={name}", files={"file": ("a.wav", data)})
    body = assert_error(r, 404, "unknown model")
    assert body["available"] == ["alpha", "badcard", "beta", "broken", "gamma"]
    assert "outside" not in body["available"]


@pytest.mark.parametrize(
    "path",
    [
        "/models/nope",
        "/models/%2E%2E",
        "/models/..%2Foutside",
        "/models/%2Fetc%2Fpasswd",
        "/models/outside",
    ],
)
def test_model_card_paths_never_leave_the_directory(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    assert isinstance(r.json()["detail"], str)
    assert "0.99" not in r.text  # the outside model's card is never served


# -- 503: models that cannot be loaded --------------------------------------------------------
def test_unusable_models_are_503_and_listed(client: TestClient) -> None:
    data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    assert_error(post(client, data, "a.wav", "?model=badcard"), 503, "card.json")
    assert_error(post(client, data, "a.wav", "?model=broken"), 503, "onnxruntime")
    listing = client.get("/models").json()
    assert "badcard" in listing["invalid"]
    assert "badcard" not in [m["name"] for m in listing["models"]]


def test_a_model_whose_onnx_fails_is_invalid_and_no_response_has_a_server_path(
    client: TestClient, models_dir: Path
) -> None:
    listing = client.get("/models").json()
    assert "onnxruntime cannot load 'broken'" in listing["invalid"]["broken"]
    assert "broken" not in [m["name"] for m in listing["models"]]  # never offered as loadable
    data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    answers = [
        client.get("/models"),
        client.get("/metrics"),
        client.get("/models/alpha"),
        client.get("/models/badcard"),
        post(client, data, "a.wav", "?model=broken"),
        post(client, data, "a.wav", "?model=badcard"),
        post(client, b"not audio at all", "a.wav"),
    ]
    for r in answers:
        assert str(models_dir.parent) not in r.text and "/tmp" not in r.text, r.text


# -- 500: only for true bugs -----------------------------------------------------------------
def test_a_bug_is_a_generic_500(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(Settings(models_dir=models_dir, providers="cpu"))

    async def broken_run(model, chunks, ticket=None):
        raise ZeroDivisionError("secret internal state")

    monkeypatch.setattr(app.state.service.tagger, "run", broken_run)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = post(c, audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16"), "a.wav")
        assert r.status_code == 500
        assert r.json() == {"detail": "internal server error"}
        assert c.get("/healthz").status_code == 200


def test_still_serving_after_bad_inputs(client: TestClient) -> None:
    for data, name in NOT_AUDIO.values():
        assert post(client, data, name).status_code == 415
    r = post(client, MTAT_CLIP.read_bytes(), MTAT_CLIP.name)
    assert r.status_code == 200 and r.json()["model"] == "beta"
    assert client.get("/readyz").status_code == 200
