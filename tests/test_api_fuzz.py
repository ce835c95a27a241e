"""Fuzz every operation of the OpenAPI schema (schemathesis, bounded): no input may cause a 5xx."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

MAX_EXAMPLES = 8  # per operation: ~30 operations, well under a minute in total
DEEP_EXAMPLES = 600  # per operation, `make test-slow`: ~3 minutes; it found 5xx that 8 did not


@pytest.fixture
def fuzzed(make_service):
    """A service of its own for each test: schemathesis ends the app's lifespan (which stops its
    workers) when the test that reached it over ASGI ends."""
    return make_service(limits={"rate_per_key": 10_000, "burst_per_key": 10_000}, job_workers=0)


def run_bounded(operation, headers: dict, failures: list[str], max_examples: int) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def check(case):
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{operation.method.upper()} {case.formatted_path}: "
                f"{response.status_code} {response.text[:200]}"
            )

    check()


def fuzz_every_operation(service, max_examples: int) -> list[str]:
    """`max_examples` generated requests per operation of the schema; the ones answered with a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
    headers = {"Authorization": f"Bearer {service.admin_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    failures: list[str] = []
    for operation in operations:
        run_bounded(operation, headers, failures, max_examples)
    return failures


def test_no_operation_answers_5xx(fuzzed):
    started = time.monotonic()
    failures = fuzz_every_operation(fuzzed, MAX_EXAMPLES)
    assert not failures, "\n".join(failures[:10])
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_no_operation_answers_5xx_when_fuzzed_deeply(fuzzed):
    failures = fuzz_every_operation(fuzzed, DEEP_EXAMPLES)
    assert not failures, "\n".join(failures[:10])
