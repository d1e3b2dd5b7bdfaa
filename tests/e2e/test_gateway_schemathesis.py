"""The running gateway fuzzed from its own /openapi.json with schemathesis.

Bounded and deterministic: a fixed number of examples per operation and
generation mode, derandomized Hypothesis with no example database, loopback
only. Every check schemathesis has is on: every response must not be a 5xx
and must match the document (status code, content type, headers, body
schema), data that breaks the schema must be refused, and data that fits it
must be accepted (but for refusals that depend on what is stored, or on
Unicode's emoji data, which no schema can state: see _NOT_IN_A_SCHEMA; and
an If-Match naming an etag the resource does not have, a 412 with the
ETAG_MISMATCH reason).
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .test_gateway_e2e import gateway_url  # noqa: F401 - the fixture: a gateway per backend

# Small and fixed, so the run is bounded; raise it locally to hunt for bugs.
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "25"))

# Refusals no schema can state, each matched exactly on its field and message:
# a well-formed id that names no upload or no issue, a parent that would close
# a cycle, a status move the workspace's workflow (itself fuzzed) forbids, and
# a string that is not exactly one emoji (Unicode's data, not a pattern).
_NOT_IN_A_SCHEMA = [
    ("attachment_ids[", re.compile(r"^attachment [0-9a-f-]{36} (does not exist in this workspace|has not been uploaded yet)$")),
    ("attachment_id", re.compile(r"^attachment [0-9a-f-]{36} (does not exist in this workspace|has not been uploaded yet)$")),
    ("parent_id", re.compile(r"^(issue \S+ does not exist in this workspace|an issue cannot be its own parent"
                             r"|issue \S+ is a sub-issue of this one: that would be a cycle)$")),
    ("status", re.compile(r"^the workflow does not allow moving from \w+ to \w+; ")),
    ("emoji", re.compile(r"^must be exactly one emoji")),
    # A page token is signed by the server: no pattern can say which strings are
    # tokens of a list; with offset it is refused too. Dates that match the
    # RFC 3339 pattern but do not exist (February 30th, year 0).
    ("page_token", re.compile(r"^(is not a page token of this list|cannot be given together with offset"
                               r"|was made for other filters|takes the place of )")),
    # A cursor only what the workspace has had (`?after=`, the field after_sequence).
    ("after", re.compile(r"^is past the workspace's last event \(\d+\)$")),
    # Whether a webhook's host resolves, and to what, is the DNS's to say.
    ("url", re.compile(r"^host '.*' (does not resolve|resolves to )")),
    *((name, re.compile(r"^'.*' is not a time that exists$")) for name in ("created_after", "created_before", "updated_after")),
]


def _not_in_a_schema(violation: dict[str, str]) -> bool:
    return any(violation["field"].startswith(field) and pattern.match(violation["description"])
               for field, pattern in _NOT_IN_A_SCHEMA)


def _stale_etag(response: Any) -> bool:
    details = response.json()["error"]["details"]
    return any(d.get("reason") == "ETAG_MISMATCH" for d in details if d["@type"].endswith("google.rpc.ErrorInfo"))


def positive_data_acceptance_but_unknown_references(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, forgiving a 400 only when every violation is one no schema can state,
    and a 412 only for an If-Match whose etag (well formed, as generated) is not the resource's."""
    if response.status_code == 412 and _stale_etag(response):
        return None
    if response.status_code == 400:
        details = response.json()["error"]["details"]
        violations = [v for d in details for v in d.get("field_violations", [])]
        if violations and all(_not_in_a_schema(v) for v in violations):
            return None
    return positive_data_acceptance(ctx, response, case)


load_all_checks()
# Every check schemathesis has, positive data acceptance with the one exception above.
CHECKS = [
    *(check for check in REGISTERED_CHECKS.get_all() if check is not positive_data_acceptance),
    positive_data_acceptance_but_unknown_references,
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
            # The token again at send time: where the operation has header parameters of its
            # own (Idempotency-Key, If-Match), schemathesis counts a fixed header among the
            # generated ones, and would take the token for generated (invalid) credentials.
            case.call_and_validate(base_url=gateway_url, checks=checks, timeout=30, headers=headers)
            exercised.add(label)

        names = {p.name for p in operation.path_parameters}
        real = {k: v for k, v in seeded.items() if k in names}
        # The token is fixed input, so negative cases never just drop it.
        _fuzz(operation, GenerationMode.POSITIVE, call, headers=headers)
        if real:
            # Generated ids are mostly not UUIDs; real ones reach the database.
            _fuzz(operation, GenerationMode.POSITIVE, call, headers=headers, path_parameters=real)
        try:
            _fuzz(operation, GenerationMode.NEGATIVE, call,
                  headers=headers, **({"path_parameters": real} if real else {}))
        except Unsatisfiable:
            pass  # nothing left to break: every input of the operation is fixed or free-form text
    assert exercised == {f"{op.method.upper()} {op.path}" for op in operations}
