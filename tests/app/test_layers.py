"""The layering of the service: domain errors have one HTTP mapping, and the pipeline, the
response shaping and the command line run without any HTTP code loaded."""

from __future__ import annotations

import inspect
import subprocess
import sys

import app.errors
from app.errors import OverloadedError, QueueFullError, ServiceError, UnknownModelError
from app.http_errors import error_body, headers_of, status_of
from tests.paths import REPO

EXPECTED_STATUS = {
    "EmptyUploadError": 400,
    "AudioTooShortError": 400,
    "MalformedBodyError": 400,
    "ClientGoneError": 400,
    "UnknownModelError": 404,
    "LibraryNotMountedError": 404,
    "UnknownTrackError": 404,
    "ModelMismatchError": 409,
    "NotALibraryError": 500,  # a start-up error (TAGGER_LIBRARY): the service does not start
    "AudioLimitError": 413,
    "UnsupportedAudioError": 415,
    "FormFieldError": 422,
    "InvalidOptionError": 422,
    "ModelLoadError": 503,
    "NotReadyError": 503,
    "ShuttingDownError": 503,
    "OverloadedError": 503,
    "QueueFullError": 503,
    "UploadsFullError": 503,
}


def domain_errors() -> dict[str, type[ServiceError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(app.errors, inspect.isclass)
        if issubclass(cls, ServiceError) and cls is not ServiceError
    }


def example(cls: type[ServiceError]) -> ServiceError:
    if cls is UnknownModelError:
        return cls("nope", ["alpha"])
    if issubclass(cls, OverloadedError):
        return cls("busy", 3, queue_depth=9)
    if cls.__name__ == "FormFieldError":
        return cls("invalid request: file: Field required", "Field required", "missing")
    return cls("what went wrong", duration_s=1.5)


def test_every_domain_error_has_one_status_and_no_http_attributes() -> None:
    errors = domain_errors()
    assert set(errors) == set(EXPECTED_STATUS)  # a new error class needs its status here
    for name, cls in errors.items():
        err = example(cls)
        assert status_of(err) == EXPECTED_STATUS[name], name
        assert not hasattr(err, "status_code") and not hasattr(err, "headers"), name
    assert status_of(ServiceError("a bare one")) == 500


def test_overload_carries_retry_after_into_header_and_body() -> None:
    err = QueueFullError("model 'm' is busy", 3, queue_depth=9, max_queue=8)
    assert err.detail == "model 'm' is busy; retry in about 3 s"
    assert headers_of(err) == {"Retry-After": "3"}
    body = error_body(err)
    assert body == {"detail": err.detail, "queue_depth": 9, "max_queue": 8, "retry_after_s": 3}
    assert list(body) == ["detail", "queue_depth", "max_queue", "retry_after_s"]
    assert headers_of(UnknownModelError("x", [])) == {}


def test_pipeline_and_cli_load_no_http_code() -> None:
    code = (
        "import sys\n"
        "import app.cli, app.tagger, app.shaping, app.batching, app.admission, app.registry\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')\n"
        "             or m.startswith(('app.routers', 'app.http_errors', 'app.main')))\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
