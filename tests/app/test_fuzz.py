"""Property-based API fuzzing (Schemathesis) of every operation on a real uvicorn server.

Schemathesis reads ``/openapi.json`` and sends generated requests (valid and invalid
parameters, bodies, headers) to each operation over HTTP; every response is checked against
the schema: no 5xx, documented status codes and content types, bodies matching their response
models. Hypothesis is derandomized (fixed seed) and the number of examples per operation is
bounded, so the run is reproducible and takes well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from benchmarks.flood import served
from tests.app.support import make_models_dir

EXAMPLES = 30
"""Generated cases per operation (with the schema's examples and coverage cases)."""


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    models = make_models_dir(tmp_path_factory.mktemp("fuzz"))
    env = {"TAGGER_MODELS_DIR": str(models), "TAGGER_PROVIDERS": "cpu"}
    with served(env) as (url, _pid, _log):
        yield url


def test_every_operation_honours_its_schema(fuzzed_server: str) -> None:
    """Every operation of the live schema (``/predict`` with generated multipart bodies and
    queries, ``/models/{name}`` with generated names, the probes with GET and HEAD, ...)."""
    schema = schemathesis.openapi.from_url(fuzzed_server + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9  # every route of the app, HEADs included
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # a fixed seed: the same cases every run
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # What the schema cannot say: a schema-valid /predict body must still be audio (an
            # arbitrary binary `file` is a documented 415/400/413), so "schema-valid data is
            # accepted" does not hold there; every other check does.
            skip = [positive_data_acceptance] if case.operation.path == "/predict" else []
            case.call_and_validate(timeout=30, excluded_checks=skip)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
