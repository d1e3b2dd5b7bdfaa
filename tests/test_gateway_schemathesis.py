"""The running gateway fuzzed from its own /openapi.json with schemathesis.

Bounded and deterministic: a fixed number of examples per operation and
generation mode, derandomized Hypothesis with no example database, loopback
only. Every response must not be a 5xx and must match the document (status
code, content type, headers, body schema); data that breaks the schema must
be refused.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .test_gateway_e2e import gateway_url  # noqa: F401 - the fixture: a gateway per backend

# Small and fixed, so the run is bounded; raise it locally to hunt for bugs.
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "15"))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz(operation: Any, mode: GenerationMode, call: Callable[[Any], None], **fixed: Any) -> None:
    strategy = operation.as_strategy(generation_mode=mode, **fixed)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        call(case)

    run()


@pytest.fixture
def seeded(gateway_url: str, make_token: Callable[..., tuple[str, str]]) -> dict[str, str]:
    """A token in a fresh workspace, with one issue and one comment for real path parameters."""
    token, _ = make_token("admin")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=30) as c:
        issue = c.post("/api/v1/issues", json={"title": "fuzz target", "description": []}).json()
        comment = c.post(f"/api/v1/issues/{issue['uuid']}/comments", json={"content": "c"}).json()
    return {"token": token, "issue_id": issue["uuid"], "comment_id": comment["uuid"]}


def test_fuzz_every_operation_from_the_served_document(gateway_url: str, seeded: dict[str, str]) -> None:
    assert gateway_url.startswith("http://127.0.0.1:")  # loopback only
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletes last, so the seeded ids stay useful to the other operations for longer.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) >= 13

    exercised: set[str] = set()
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"

        def call(case: Any, checks: list = CHECKS) -> None:
            case.call_and_validate(base_url=gateway_url, checks=checks, timeout=30)
            exercised.add(label)

        names = {p.name for p in operation.path_parameters}
        real = {k: v for k, v in seeded.items() if k in names}
        # The token is fixed input, so negative cases never just drop it.
        _fuzz(operation, GenerationMode.POSITIVE, call, headers=headers)
        if real:
            # Generated ids are mostly not UUIDs; real ones reach the database.
            _fuzz(operation, GenerationMode.POSITIVE, call, headers=headers, path_parameters=real)
        try:
            _fuzz(operation, GenerationMode.NEGATIVE, lambda case: call(case, [*CHECKS, negative_data_rejection]),
                  headers=headers, **({"path_parameters": real} if real else {}))
        except Unsatisfiable:
            pass  # nothing left to break: every input of the operation is fixed or free-form text
    assert exercised == {f"{op.method.upper()} {op.path}" for op in operations}
