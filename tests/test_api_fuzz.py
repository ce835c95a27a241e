"""Fuzz every operation of the OpenAPI schema (schemathesis, bounded): no input may cause a 5xx."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

MAX_EXAMPLES = 8  # per operation: ~30 operations, well under a minute in total


@pytest.fixture(scope="module")
def fuzzed(make_service):
    return make_service(limits={"rate_per_key": 10_000, "burst_per_key": 10_000}, job_workers=0)


def run_bounded(operation, headers: dict, failures: list[str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case):
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{operation.method.upper()} {case.formatted_path}: "
                f"{response.status_code} {response.text[:200]}"
            )

    check()


def test_no_operation_answers_5xx(fuzzed):
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app)
    headers = {"Authorization": f"Bearer {fuzzed.admin_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures: list[str] = []
    started = time.monotonic()
    for operation in operations:
        run_bounded(operation, headers, failures)
    assert not failures, "\n".join(failures[:10])
    assert time.monotonic() - started < 60
