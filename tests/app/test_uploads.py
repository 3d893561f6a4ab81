"""Uploads of ``POST /predict``: admission before the body, the spool, the form's rules (app.uploads)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from app.admission import OverloadLog
from app.config import Settings
from app.main import create_app
from app.sniff import sniff
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, lifespan_client, tone
from tests.paths import MTAT_CLIP

WAV = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")


@pytest.fixture(scope="module")
def client(models_dir: Path):
    with TestClient(create_app(Settings(models_dir=models_dir, providers="cpu"))) as c:
        yield c


def raw_post(client: TestClient, parts: list[tuple[str, bytes]], query: str = "") -> httpx.Response:
    """A multipart body written by hand: ``parts`` = [(Content-Disposition params, data)]."""
    body = b"".join(
        b"--bb\r\nContent-Disposition: form-data; " + head.encode() + b"\r\n\r\n" + data + b"\r\n"
        for head, data in parts
    )
    return client.post(
        "/predict" + query,
        content=body + b"--bb--\r\n",
        headers={"content-type": "multipart/form-data; boundary=bb"},
    )


def test_several_file_parts_are_422_naming_the_problem(client: TestClient) -> None:
    r = client.post("/predict", files=[("file", ("a.wav", WAV)), ("file", ("b.wav", WAV))])
    assert r.status_code == 422, r.text
    body = r.json()
    assert "more than one 'file' part" in body["detail"]
    assert body["errors"] == [
        {"loc": ["body", "file"], "msg": "More than one file part", "type": "too_many_files"}
    ]


def test_rfc5987_filename_star_works(client: TestClient) -> None:
    r = raw_post(client, [("name=\"file\"; filename*=UTF-8''na%C3%AFve%20song.wav", WAV)])
    assert r.status_code == 200, r.text
    both = 'name="file"; filename="x.wav"; filename*=UTF-8\'\'%C3%A9.wav'
    assert raw_post(client, [(both, WAV)]).status_code == 200


def test_other_fields_are_skipped_and_a_text_file_field_is_422(client: TestClient) -> None:
    r = raw_post(client, [('name="note"', b"hello"), ('name="file"; filename="a.wav"', WAV)])
    assert r.status_code == 200, r.text
    r = raw_post(client, [('name="file"', WAV)])
    assert r.status_code == 422 and "got a text field" in r.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [{"content-type": "application/json"}, {"content-type": "multipart/form-data"}, {}],
)
def test_a_body_that_is_not_multipart_is_the_usual_422(
    client: TestClient, headers: dict[str, str]
) -> None:
    r = client.post("/predict", content=b'{"file": 1}', headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "file"]


def test_malformed_multipart_is_400(client: TestClient) -> None:
    r = client.post(
        "/predict",
        content=b"--bb\r\nnot a header line at all\r\n\r\n",
        headers={"content-type": "multipart/form-data; boundary=bb"},
    )
    assert r.status_code in (400, 422), r.text
    assert isinstance(r.json()["detail"], str)


def test_top_k_maximum_is_in_the_schema_and_its_422_has_the_usual_shape(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()
    params = {p["name"]: p for p in schema["paths"]["/predict"]["post"]["parameters"]}
    top_k = params["top_k"]["schema"]
    top_k = next(s for s in top_k.get("anyOf", [top_k]) if s.get("type") == "integer")
    assert top_k["maximum"] == 50 and top_k["minimum"] == 1
    for query in ("?top_k=11", "?top_k=51"):  # over the model's 10 tags; over the schema's 50
        body = client.post("/predict" + query, files={"file": ("a.wav", WAV)}).json()
        assert body["errors"][0]["loc"] == ["query", "top_k"], body
        assert body["detail"].startswith("invalid request: query.top_k")


def test_head_works_on_the_health_endpoints(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b""


def test_sniff_knows_audio_from_the_first_bytes() -> None:
    mp3 = MTAT_CLIP.read_bytes()
    assert sniff(mp3[:65536]) == "MP3 (ID3 tag)"
    id3_size = int.from_bytes(bytes(b & 0x7F for b in mp3[6:10]), "big")  # synchsafe
    assert sniff(mp3[10 + id3_size :][:65536]) == "MPEG audio / ADTS"  # MP3 without its tag
    assert sniff(audio_bytes(tone(2.0), SAMPLE_RATE, "FLAC", "PCM_16")) == "FLAC"
    for not_audio in (
        b"hello" * 100,
        b"\x89PNG\r\n\x1a\n" + bytes(300),
        b"%PDF-1.7",
        b"PK\x03\x04",
    ):
        assert sniff(not_audio) is None


@pytest.mark.anyio
async def test_not_audio_is_refused_after_its_first_bytes(models_dir: Path) -> None:
    """415 as soon as the sniff window is in, without reading the rest of a long body (the
    lingering close, which reads and drops the rest after the answer, is off here)."""
    settings = Settings(models_dir=models_dir, providers="cpu", sniff_bytes=4096)
    app = create_app(settings.model_copy(update={"refused_drain_mb": 0}))
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--bb\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\n'
        for _ in range(400):
            sent += 1
            yield b"this is a text file, not music " * 512  # 16 KiB
        yield b"\r\n--bb--\r\n"

    async with lifespan_client(app) as c:
        r = await c.post(
            "/predict",
            content=body(),
            headers={"content-type": "multipart/form-data; boundary=bb"},
        )
    assert r.status_code == 415 and "no audio header" in r.json()["detail"]
    assert sent <= 2


@pytest.mark.anyio
async def test_admission_is_decided_before_the_body_is_read(models_dir: Path) -> None:
    """With every upload slot taken, the next request gets 503 + Retry-After and not one byte
    of its body is read (the lingering close, which reads and drops it after the answer, is
    off here)."""
    settings = Settings(models_dir=models_dir, providers="cpu", max_uploads=1)
    app = create_app(settings.model_copy(update={"refused_drain_mb": 0}))
    release = anyio.Event()
    read = {"slow": 0, "refused": 0}

    def body(name: str, wait: bool):
        async def gen() -> AsyncIterator[bytes]:
            read[name] += 1
            yield b'--bb\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
            if wait:
                await release.wait()
            read[name] += 1
            yield WAV + b"\r\n--bb--\r\n"

        return gen()

    headers = {"content-type": "multipart/form-data; boundary=bb"}
    async with lifespan_client(app) as c:
        results: dict[str, httpx.Response] = {}

        async def slow() -> None:
            results["slow"] = await c.post("/predict", content=body("slow", True), headers=headers)

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            while read["slow"] == 0:
                await anyio.sleep(0.01)
            refused = await c.post("/predict", content=body("refused", False), headers=headers)
            release.set()
        batcher = app.state.service.tagger.batchers()["beta"]
        assert batcher.depth == 0  # every reservation was given back
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert "TAGGER_MAX_UPLOADS" in refused.json()["detail"]
    assert read["refused"] == 0  # the refused body was never read
    assert results["slow"].status_code == 200, results["slow"].text


def test_retry_after_is_measured_at_warm_up(client: TestClient) -> None:
    state = client.app.state.service
    model = state.registry.get("beta")
    batcher = state.tagger.batcher(model)
    assert model.sec_per_row > 0
    assert batcher._sec_per_row > 0  # before any request ran: seeded by the warm-up run


def test_503s_are_logged_as_one_summary_line_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    overload = OverloadLog(10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="app"):
        for i in range(500):
            now[0] = i * 0.01  # 500 refusals in 5 s
            overload.refused("QueueFullError")
        now[0] = 12.0
        overload.refused("UploadsFullError")
    lines = [r.getMessage() for r in caplog.records if "overloaded" in r.getMessage()]
    assert len(lines) == 2
    assert "500 request(s)" in lines[1] and "499 QueueFullError" in lines[1]
