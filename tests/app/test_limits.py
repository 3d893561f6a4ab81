"""The body guard and access control on a real uvicorn server (app.limits, app.auth): raw sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from benchmarks.flood import served
from tagging.constants import SAMPLE_RATE
from tests.app.support import audio_bytes, lifespan_client, make_models_dir, tone

KEYS = ("k3y-0ne", "second-key")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with short timeouts, two API keys (one from a file) and one CORS origin."""
    models = make_models_dir(tmp_path_factory.mktemp("limits"))
    keys_file = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys_file.write_text(f"# one key per line\n{KEYS[1]}\n")
    env = {
        "TAGGER_MODELS_DIR": str(models),
        "TAGGER_PROVIDERS": "cpu",
        "TAGGER_BODY_TIMEOUT_S": "1.5",
        "TAGGER_REQUEST_TIMEOUT_S": "20",
        "TAGGER_API_KEYS": KEYS[0],
        "TAGGER_API_KEYS_FILE": str(keys_file),
        "TAGGER_CORS_ORIGINS": "https://app.example",
    }
    with served(env) as (url, _pid, log):
        yield url
    text = log.read_text()
    assert KEYS[0] not in text and KEYS[1] not in text  # keys are never logged
    assert "unhandled error" not in text and "Traceback" not in text


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):  # until the server closes the connection
        data += chunk
    return data


def _headers(key: str | None = KEYS[0]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _multipart_head(length: int, key: str = KEYS[0]) -> bytes:
    return (
        f"POST /predict HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary=bb\r\nContent-Length: {length}\r\n\r\n"
        '--bb\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    ).encode()


def test_a_stalled_body_gets_408_and_the_connection_is_closed(server: str) -> None:
    with _connect(server) as sock:
        t0 = time.monotonic()
        sock.sendall(_multipart_head(1_000_000) + b"RIFF\0\0\0\0WAVE")  # then nothing
        answer = _read_answer(sock)  # returns only because the server closes the connection
        waited = time.monotonic() - t0
    status, _, rest = answer.partition(b"\r\n")
    assert b" 408 " in status, answer
    assert b"connection: close" in rest.lower()
    assert b"TAGGER_BODY_TIMEOUT_S" in answer
    assert 1.4 < waited < 10


def test_a_client_that_leaves_mid_upload_leaves_nothing_behind(server: str) -> None:
    with _connect(server) as sock:
        sock.sendall(_multipart_head(1_000_000) + b"RIFF\0\0\0\0WAVE" + bytes(100_000))
    with httpx.Client(base_url=server, timeout=30) as c:
        time.sleep(0.5)
        assert c.get("/prometheus", headers=_headers()).status_code == 200
        assert (
            'tagger_inference_queue_depth{model="beta"} 0.0'
            in c.get("/prometheus", headers=_headers()).text
        )


def test_a_slow_but_steady_upload_succeeds(server: str) -> None:
    wav = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    tail = b"\r\n--bb--\r\n"
    head = _multipart_head(0)
    body_len = len(head.split(b"\r\n\r\n", 1)[1]) + len(wav) + len(tail)
    head = _multipart_head(body_len)
    with _connect(server) as sock:
        sock.sendall(head)
        pieces = [wav[i : i + len(wav) // 4 + 1] for i in range(0, len(wav), len(wav) // 4 + 1)]
        for piece in pieces:  # ~0.9 s between pieces: under the 1.5 s stall limit, 3.6 s in all
            time.sleep(0.9)
            sock.sendall(piece)
        sock.sendall(tail)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_api_keys(server: str) -> None:
    wav = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    with httpx.Client(base_url=server, timeout=60) as c:
        for path in ("/healthz", "/readyz"):  # the probes stay open
            assert c.get(path).status_code == 200 and c.head(path).status_code == 200
        assert c.get("/openapi.json").status_code == 200  # the API's shape is public
        for path in ("/models", "/metrics", "/prometheus", "/models/beta"):
            missing = c.get(path)
            assert missing.status_code == 401, path
            assert missing.headers["www-authenticate"].startswith("Bearer")
            wrong = c.get(path, headers=_headers("nope"))
            assert (
                wrong.status_code == 401
                and 'error="invalid_token"' in (wrong.headers["www-authenticate"])
            )
            for key in KEYS:  # from TAGGER_API_KEYS and from TAGGER_API_KEYS_FILE
                assert c.get(path, headers=_headers(key)).status_code == 200, path
        files = {"file": ("a.wav", wav)}
        assert c.post("/predict", files=files).status_code == 401
        assert c.post("/predict", files=files, headers=_headers("Bearer")).status_code == 401
        r = c.post("/predict", files=files, headers=_headers())
        assert r.status_code == 200, r.text
        schema = c.get("/openapi.json").json()
        assert schema["paths"]["/predict"]["post"]["security"] == [{"apiKey": []}]
        assert "security" not in schema["paths"]["/healthz"]["get"]


def test_cors_and_no_server_header(server: str) -> None:
    origin = {"Origin": "https://app.example"}
    with httpx.Client(base_url=server, timeout=60) as c:
        preflight = c.options(
            "/predict",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        r = c.get("/models", headers={**origin, **_headers()})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        denied = c.get("/models", headers={**_headers(), "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in denied.headers
        assert "server" not in r.headers


def test_cors_is_off_by_default(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu")
    with TestClient(create_app(settings)) as c:
        r = c.get("/models", headers={"Origin": "https://app.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


@pytest.mark.anyio
async def test_a_trickling_body_meets_the_request_deadline(models_dir: Path) -> None:
    """Each piece arrives within the stall limit, but the whole request is bounded: 408."""
    settings = Settings(
        models_dir=models_dir, providers="cpu", body_timeout_s=1.0, request_timeout_s=1.5
    )
    app = create_app(settings)

    async def trickle():
        yield b'--bb\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        yield b"RIFF\0\0\0\0WAVE"
        for _ in range(20):  # 20 x 0.3 s = 6 s in all, never 1 s without data
            await anyio.sleep(0.3)
            yield bytes(1024)

    async with lifespan_client(app) as c:
        t0 = time.monotonic()
        r = await c.post(
            "/predict",
            content=trickle(),
            headers={"content-type": "multipart/form-data; boundary=bb"},
        )
        assert r.status_code == 408 and "TAGGER_REQUEST_TIMEOUT_S" in r.json()["detail"]
        assert time.monotonic() - t0 < 4
