"""Models, metrics, health endpoints, start-up (default model, providers, CUDA fallback),
settings and the OpenAPI docs, through real HTTP against real onnxruntime sessions."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import httpx
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

import app.config
import app.registry
from app.config import DEFAULT_MODELS_DIR, Settings, cgroup_cpu_quota
from app.main import create_app
from app.registry import CUDA, ModelRegistry
from tagging.constants import SAMPLE_RATE
from tagging.evaluations import from_source
from tests.app.support import audio_bytes, make_legacy, tone, write_model


@pytest.fixture(scope="module")
def client(models_dir: Path):
    with TestClient(create_app(Settings(models_dir=models_dir, providers="cpu"))) as c:
        yield c


def cuda_really_works(model_path: Path) -> bool:
    """Whether onnxruntime can actually run on CUDA here (it lists CUDA even without a GPU)."""
    if CUDA not in ort.get_available_providers():
        return False
    session = ort.InferenceSession(str(model_path), providers=[CUDA, "CPUExecutionProvider"])
    return session.get_providers()[0] == CUDA


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready",
        "model": "beta",
        "providers_requested": "cpu",
        "provider": "CPUExecutionProvider",
        "fallback": False,
        "fallback_reason": None,
        "placement": None,
    }


@pytest.mark.parametrize("method", ["OPTIONS", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_name_get_and_head_in_allow(client: TestClient, path: str, method: str) -> None:
    """Any other method gets 405 whose Allow lists both methods the probe answers (RFC 9110
    15.5.6), though GET and HEAD are two routes."""
    r = client.request(method, path)
    assert r.status_code == 405
    assert sorted(m.strip() for m in r.headers["allow"].split(",")) == ["GET", "HEAD"]
    assert client.get(path).status_code == 200 and client.head(path).status_code == 200


@pytest.mark.anyio
async def test_readyz_is_503_until_the_model_is_warm(models_dir: Path) -> None:
    application = create_app(Settings(models_dir=models_dir, providers="cpu"))
    transport = httpx.ASGITransport(app=application)  # does not run the lifespan
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/readyz")
        assert r.status_code == 503 and "starting" in r.json()["detail"]
        assert (await c.get("/healthz")).status_code == 200
        data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
        assert (await c.post("/predict", files={"file": ("a.wav", data)})).status_code == 503
        async with application.router.lifespan_context(application):
            assert (await c.get("/readyz")).status_code == 200
        # After shutdown the service is not ready any more.
        assert (await c.get("/readyz")).status_code == 503


def test_models_listing(client: TestClient, models_dir: Path) -> None:
    body = client.get("/models").json()
    assert body["default_model"] == "beta" and body["providers_requested"] == "cpu"
    assert "CPUExecutionProvider" in body["available_providers"]
    models = {m["name"]: m for m in body["models"]}
    assert list(models) == ["alpha", "beta", "gamma"]
    card = json.loads((models_dir / "alpha" / "card.json").read_text())
    alpha = models["alpha"]
    per_tag = card["evaluation"]["results"]["per_tag"]
    assert alpha["per_tag"] == {
        t: {"roc_auc": per_tag[t]["roc_auc"], "pr_auc": per_tag[t]["pr_auc"]} for t in card["tags"]
    }
    assert alpha["macro"]["roc_auc"] == pytest.approx(0.80)
    assert alpha["macro"]["pr_auc"] == pytest.approx(
        card["evaluation"]["results"]["macro"]["pr_auc"]
    )
    assert alpha["parameters"] == card["parameters"] and alpha["trained_on"] == "synthetic"
    assert alpha["chunk_samples"] == 16_000 and alpha["evaluated"] is True
    assert models["beta"]["default"] and models["beta"]["loaded"]
    assert models["beta"]["provider"] == "CPUExecutionProvider"
    assert models["beta"]["fallback"] is False
    assert models["gamma"]["evaluated"] is False
    assert models["gamma"]["macro"] == {"roc_auc": None, "pr_auc": None}


def test_model_card_is_returned_whole(client: TestClient, models_dir: Path) -> None:
    r = client.get("/models/gamma")
    assert r.status_code == 200
    assert r.json() == json.loads((models_dir / "gamma" / "card.json").read_text())
    r = client.get("/models/nope")
    assert r.status_code == 404 and r.json()["available"] == ["alpha", "beta", "gamma"]


def test_metrics_are_the_stored_evaluations(client: TestClient, models_dir: Path) -> None:
    body = client.get("/metrics").json()
    assert [m["name"] for m in body["models"]] == ["alpha", "beta", "gamma"]
    for entry in body["models"]:
        card = json.loads((models_dir / entry["name"] / "card.json").read_text())
        assert entry["evaluation"] == card["evaluation"]
        assert entry["trained_on"] == "synthetic"


def test_prometheus_counts_requests(client: TestClient) -> None:
    data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
    assert client.post("/predict", files={"file": ("a.wav", data)}).status_code == 200
    assert client.post("/predict", files={"file": ("a.wav", b"")}).status_code == 400
    assert client.get("/no/such/path").status_code == 404
    r = client.get("/prometheus")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'tagger_requests_total{endpoint="/predict",method="POST",status="200"} 1.0' in text
    assert 'tagger_requests_total{endpoint="/predict",method="POST",status="400"} 1.0' in text
    assert 'tagger_requests_total{endpoint="unmatched",method="GET",status="404"} 1.0' in text
    assert (
        'tagger_request_duration_seconds_bucket{endpoint="/predict",le="60.0",method="POST"} 2.0'
        in text
    )
    assert (
        'tagger_inference_duration_seconds_count{model="beta",provider="CPUExecutionProvider"} 1.0'
        in text
    )
    assert 'tagger_inference_chunks_total{model="beta"} 16.0' in text
    assert 'tagger_model_loaded{model="beta",provider="CPUExecutionProvider"} 1.0' in text
    assert "tagger_decode_duration_seconds_count 1.0" in text


def test_openapi_documents_every_endpoint_with_examples(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("/predict", "post"),
        ("/models", "get"),
        ("/models/{name}", "get"),
        ("/metrics", "get"),
        ("/prometheus", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/limits", "get"),
        ("/similar", "post"),
        ("/library", "get"),
        ("/library/search", "get"),
        ("/library/status", "get"),
        ("/library/{track_id}/similar", "get"),
    }
    heads = {("/healthz", "head"), ("/readyz", "head")}  # no body: nothing to exemplify
    assert {(p, m) for p, ops in paths.items() for m in ops} == expected | heads
    schemas = spec["components"]["schemas"]
    for path, method in expected:
        op = paths[path][method]
        assert op.get("summary") and op.get("description"), path
        ok = op["responses"]["200"]["content"]
        media = next(iter(ok.values()))
        ref = media.get("schema", {}).get("$ref", "")
        has_example = "example" in media or (ref and "examples" in schemas[ref.rsplit("/", 1)[-1]])
        assert has_example, f"{method.upper()} {path} has no response example"
    codes = set(paths["/predict"]["post"]["responses"])
    assert {"200", "400", "404", "408", "413", "415", "422", "503"} <= codes
    assert {"200", "404", "409", "413", "415", "422"} <= set(paths["/similar"]["post"]["responses"])


# -- start-up: default model, providers ------------------------------------------------------
def test_default_is_best_macro_roc_auc_ties_by_name(tmp_path: Path) -> None:
    write_model(tmp_path, "zeta", 8_000, 0.9, seed=1)
    write_model(tmp_path, "eta", 8_000, 0.9, seed=2)
    write_model(tmp_path, "theta", 8_000, 0.7, seed=3)
    write_model(tmp_path, "unscored", 8_000, None, seed=4)
    registry = ModelRegistry(Settings(models_dir=tmp_path, providers="cpu"))
    assert registry.choose_default() == "eta"
    # Scored by the headline of `evaluations` alone (a port's published figure, no block) ...
    published = from_source("published", "MTAT test", "a README", "A. Author", {"roc_auc": 0.95})
    write_model(tmp_path, "port", 8_000, None, seed=5, evaluations=[published])
    assert registry.choose_default() == "port"
    # ... and by a legacy card's single evaluation block, migrated on read.
    write_model(tmp_path, "legacy", 8_000, 0.97, seed=6)
    make_legacy(tmp_path / "legacy")
    assert registry.choose_default() == "legacy"
    explicit = ModelRegistry(Settings(models_dir=tmp_path, default_model="theta"))
    assert explicit.choose_default() == "theta"


def test_default_prefers_models_trained_on_real_audio(tmp_path: Path) -> None:
    write_model(tmp_path, "synthetic_best", 8_000, 0.99, seed=1)
    write_model(tmp_path, "real_lower", 8_000, 0.80, seed=2, trained_on="mtat")
    write_model(tmp_path, "real_unscored", 8_000, None, seed=3, trained_on="mtat")
    registry = ModelRegistry(Settings(models_dir=tmp_path, providers="cpu", default_model=""))
    assert registry.choose_default() == "real_lower"


def test_configured_default_model_is_used(models_dir: Path) -> None:
    settings = Settings(models_dir=models_dir, providers="cpu", default_model="gamma")
    with TestClient(create_app(settings)) as c:
        assert c.get("/readyz").json()["model"] == "gamma"
        data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
        assert c.post("/predict", files={"file": ("a.wav", data)}).json()["model"] == "gamma"


@pytest.mark.parametrize("default", ["nope", "../beta"])
def test_unknown_default_model_refuses_to_start(models_dir: Path, default: str) -> None:
    application = create_app(Settings(models_dir=models_dir, default_model=default))
    with pytest.raises(RuntimeError, match="unknown model"), TestClient(application):
        pass


def test_no_models_refuses_to_start(tmp_path: Path) -> None:
    application = create_app(Settings(models_dir=tmp_path / "empty", providers="cpu"))
    with pytest.raises(RuntimeError, match="no usable model"), TestClient(application):
        pass


def test_auto_falls_back_to_cpu_loudly(models_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """On this CPU-only machine onnxruntime-gpu lists CUDA but the session runs on CPU."""
    on_gpu = cuda_really_works(models_dir / "beta" / "model.onnx")
    application = create_app(Settings(models_dir=models_dir, providers="auto"))
    with caplog.at_level(logging.WARNING, logger="app"), TestClient(application) as c:
        ready = c.get("/readyz").json()
        listed = {m["name"]: m for m in c.get("/models").json()["models"]}
        data = audio_bytes(tone(2.0), SAMPLE_RATE, "WAV", "PCM_16")
        predicted = c.post("/predict", files={"file": ("a.wav", data)}).json()
    assert ready["providers_requested"] == "auto"
    if on_gpu:
        assert ready["provider"] == CUDA and ready["fallback"] is False
        return
    assert ready["provider"] == "CPUExecutionProvider"
    assert ready["fallback"] is True and CUDA in ready["fallback_reason"]
    assert listed["beta"]["fallback"] is True
    assert listed["beta"]["fallback_reason"] == ready["fallback_reason"]
    assert predicted["provider"] == "CPUExecutionProvider"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "app"]
    assert any("FALLING BACK to CPU" in r.getMessage() for r in warnings)


def test_cuda_required_refuses_to_start_without_cuda(models_dir: Path) -> None:
    if cuda_really_works(models_dir / "beta" / "model.onnx"):
        pytest.skip("this machine really has CUDA")
    application = create_app(Settings(models_dir=models_dir, providers="cuda"))
    with (
        pytest.raises(RuntimeError, match="refusing to start: providers=cuda") as raised,
        TestClient(application),
    ):
        pass
    assert application.state.service.ready is False
    assert "needs an NVIDIA driver >= 580" in str(raised.value)  # names the driver it found


def test_build_without_cuda_provider(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        app.registry.ort, "get_available_providers", lambda: ["CPUExecutionProvider"]
    )
    with TestClient(create_app(Settings(models_dir=models_dir, providers="auto"))) as c:
        ready = c.get("/readyz").json()
    assert ready["fallback"] is True and "has no CUDAExecutionProvider" in ready["fallback_reason"]
    application = create_app(Settings(models_dir=models_dir, providers="cuda"))
    with pytest.raises(RuntimeError, match="has no CUDAExecutionProvider"), TestClient(application):
        pass


def test_concurrent_first_use_loads_once(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ModelRegistry(Settings(models_dir=models_dir, providers="cpu"))
    loads: list[str] = []
    real_load = registry._load

    def counting_load(name: str):
        loads.append(name)
        return real_load(name)

    monkeypatch.setattr(registry, "_load", counting_load)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(registry.get("alpha"))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["alpha"]
    assert len(results) == 6 and all(r is results[0] for r in results)


# -- settings -----------------------------------------------------------------------------------
def test_cgroup_cpu_quota_caps_the_cores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    v2.mkdir()
    cases = [("max 100000", None), ("150000 100000", 1.5), ("garbage", None)]
    for text, quota in cases:
        (v2 / "cpu.max").write_text(text + "\n")
        assert cgroup_cpu_quota(v2) == quota, text
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    for text, quota in [("-1", None), ("50000", 0.5), ("400000", 4.0)]:
        (v1 / "cpu" / "cpu.cfs_quota_us").write_text(text + "\n")
        assert cgroup_cpu_quota(v1) == quota, text
    assert cgroup_cpu_quota(tmp_path / "absent") is None
    affinity = Settings().cores
    monkeypatch.setattr(app.config, "cgroup_cpu_quota", lambda: 0.5)
    assert Settings().cores == 1  # at least one core
    monkeypatch.setattr(app.config, "cgroup_cpu_quota", lambda: 1000.0)
    assert Settings().cores == affinity  # a quota never adds cores


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAGGER_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("TAGGER_PROVIDERS", "cpu")
    monkeypatch.setenv("TAGGER_MAX_BATCH", "8")
    monkeypatch.setenv("TAGGER_LOG_LEVEL", "debug")
    s = Settings()
    assert (s.models_dir, s.providers, s.max_batch, s.log_level) == (tmp_path, "cpu", 8, "DEBUG")
    assert s.max_upload_bytes == 20 * 1024 * 1024
    monkeypatch.setenv("TAGGER_PROVIDERS", "tpu")
    with pytest.raises(ValueError, match="providers"):
        Settings()


def test_default_models_dir_is_the_repo_not_the_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().models_dir == DEFAULT_MODELS_DIR
    assert Path(app.registry.__file__).resolve().parent.parent / "models" == DEFAULT_MODELS_DIR


def test_service_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, app.main; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(app.registry.__file__).resolve().parent.parent,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
