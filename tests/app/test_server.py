"""The real server: uvicorn in a subprocess on a free 127.0.0.1 port, real HTTP with httpx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.flood import served
from tests.app.support import make_models_dir
from tests.paths import MTAT_CLIP


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "TAGGER_MODELS_DIR": str(make_models_dir(tmp_path_factory.mktemp("served"))),
        "TAGGER_PROVIDERS": "auto",
        "TAGGER_MAX_UPLOAD_MB": "1",
        "TAGGER_INTRA_OP_THREADS": "1",
    }
    with served(env, ready_s=60) as (url, _pid, log):  # cwd: a temporary folder, not the repo
        yield url
    assert "FALLING BACK to CPU" in log.read_text() or "on CUDAExecutionProvider" in log.read_text()


def test_real_server_tags_an_upload(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as c:
        ready = c.get("/readyz").json()
        assert ready["model"] == "beta" and ready["providers_requested"] == "auto"
        r = c.post(
            "/predict?top_k=3&segments=true",
            files={"file": (MTAT_CLIP.name, MTAT_CLIP.read_bytes(), "audio/mpeg")},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "beta" and len(body["tags"]) == 3
        assert body["provider"] == ready["provider"] and body["n_chunks"] == 16
        assert body["segments"][-1]["end_s"] == pytest.approx(body["duration_s"])
        assert c.get("/healthz").status_code == 200
        assert "tagger_requests_total" in c.get("/prometheus").text


def test_real_server_refuses_large_bodies(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as c:
        big = bytes(3 * 1024 * 1024)
        r = c.post("/predict", files={"file": ("big.mp3", big)})
        assert r.status_code == 413 and "too large" in r.json()["detail"]
        # The server keeps serving afterwards.
        assert c.get("/healthz").status_code == 200


def test_real_server_cuts_off_chunked_uploads(server: str) -> None:
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        yield b"RIFF\0\0\0\0WAVE"  # passes the header sniff: the size limit is what stops it
        for _ in range(400):  # 400 x 64 KiB = 25 MiB, the limit is 1 MiB
            sent += 1
            yield bytes(64 * 1024)
        yield b"\r\n--xx--\r\n"

    with httpx.Client(base_url=server, timeout=60) as c:
        try:
            r = c.post(
                "/predict",
                content=body(),
                headers={"content-type": "multipart/form-data; boundary=xx"},
            )
        except httpx.TransportError:
            r = None  # the server may close the connection while the client still writes
        if r is not None:
            assert r.status_code == 413 and "too large" in r.json()["detail"]
        assert sent < 200  # stopped long before the 25 MiB were sent (75 pieces seen here)
        assert c.get("/healthz").status_code == 200
