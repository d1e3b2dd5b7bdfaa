"""The running gateway fuzzed from its own /openapi.json with schemathesis,
with every check schemathesis has, the stateful phase included, on one
database (SQLite: the document and the gateway are the same on both).
Serve's own gateway gets the full fuzzing; the standalone one a fifth of
it for each operation in both directions (data that fits, data that breaks
the schema): it shares the transcoder and the document, and adds only the
gRPC hop, which a few examples of each operation reach. Both get the whole
stateful phase (fewer examples there follow too few links).

Bounded and deterministic: a fixed number of examples per operation and
generation mode, derandomized Hypothesis with no example database, loopback
only. Every response must not be a 5xx and must match the document (status
code, content type, headers, body schema), data that breaks the schema must
be refused, data that fits it must be accepted, and the stateful phase
follows the document's links from each create to the operations on what it
made (a created resource must then be there; a deleted one gone). The only
refusals forgiven for data that fits are the rules the document cannot
state, each named with why in schemathesis_rules.toml.
"""

from __future__ import annotations

import os
import pathlib
import re
import tomllib
from typing import Any, Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from .test_gateway_e2e import gateway_url  # noqa: F401 - the fixture: a gateway in front of the server

# Small and fixed, so the run is bounded; raise them locally to hunt for bugs.
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "25"))
STATEFUL_EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_STATEFUL_EXAMPLES", "40"))
# The share of those the standalone gateway gets (at least one example each).
STANDALONE_SHARE = 5

RULES = tomllib.loads((pathlib.Path(__file__).parent / "schemathesis_rules.toml").read_text())
_NOT_IN_A_SCHEMA = [(rule["field"], re.compile(rule["message"])) for rule in RULES["refusal"]]
_PRECONDITIONS = {(rule["status"], rule["reason"]) for rule in RULES["precondition"]}

# One database: the document, and what the gateway makes of it, are the same on both.
pytestmark = [pytest.mark.parametrize("backend", ["sqlite"], scope="session"), pytest.mark.long]


def _not_in_a_schema(violation: dict[str, str]) -> bool:
    return any(
        violation["field"].startswith(field) and pattern.match(violation["description"])
        for field, pattern in _NOT_IN_A_SCHEMA
    )


def _failed_precondition(response: Any) -> bool:
    details = response.json()["error"]["details"]
    return any(
        (response.status_code, d.get("reason")) in _PRECONDITIONS
        for d in details
        if d["@type"].endswith("google.rpc.ErrorInfo")
    )


def positive_data_acceptance_but_unknown_references(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance, forgiving a 400 only when every violation is one no schema can state,
    and a failed precondition only for the reasons schemathesis_rules.toml names."""
    if response.status_code == 412 and _failed_precondition(response):
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


BOUNDED = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


def _examples(request: pytest.FixtureRequest, full: int) -> int:
    """`full` on serve's own gateway; a fifth of it on the standalone one."""
    standalone = request.node.callspec.params.get("gateway_url") == "standalone"
    return max(1, full // STANDALONE_SHARE) if standalone else full


def _fuzz(operation: Any, mode: GenerationMode, call: Callable[[Any], None], examples: int, **fixed: Any) -> None:
    strategy = operation.as_strategy(generation_mode=mode, **fixed)

    @settings(BOUNDED, max_examples=examples)
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


# The operations are fuzzed in this many tests (every SHARDS-th operation
# each), which parallel test workers run at once: together, every operation.
# Eight, not four: with four, the two shards holding the costliest operations
# ran four times as long as the others, the last tests of the whole run.
SHARDS = 8


@pytest.mark.parametrize("shard", range(SHARDS))
def test_fuzz_every_operation_from_the_served_document(
    gateway_url: str, seeded: dict[str, str], shard: int, request: pytest.FixtureRequest
) -> None:
    examples = _examples(request, EXAMPLES)
    assert gateway_url.startswith("http://127.0.0.1:")  # loopback only
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    every = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: (op.path, op.method))
    assert len(every) >= 13
    operations = every[shard::SHARDS]
    # Deletes last, so the seeded ids stay useful to the other operations for longer.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")

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
        _fuzz(operation, GenerationMode.POSITIVE, call, examples, headers=headers)
        if real:
            # Generated ids are mostly not UUIDs; real ones reach the database.
            _fuzz(operation, GenerationMode.POSITIVE, call, examples, headers=headers, path_parameters=real)
        try:
            _fuzz(
                operation,
                GenerationMode.NEGATIVE,
                call,
                examples,
                headers=headers,
                **({"path_parameters": real} if real else {}),
            )
        except Unsatisfiable:
            pass  # nothing left to break: every input of the operation is fixed or free-form text
    assert exercised == {f"{op.method.upper()} {op.path}" for op in operations}


def test_stateful_links_from_every_create(gateway_url: str, seeded: dict[str, str]) -> None:
    """Sequences of calls that follow the document's links: a create, then the operations
    on what it made (GET, PATCH, DELETE, the lists and creates under it), with every check."""
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    followed: list[str] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": gateway_url, "headers": headers, "timeout": 30}

        def after_call(self, response: Any, case: Any) -> None:
            followed.append(case.operation.label)

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs=kwargs)

    Workflow.run(settings=settings(BOUNDED, max_examples=STATEFUL_EXAMPLES, stateful_step_count=6))
    # The links were followed: calls on what a create made, not only creates.
    reached = set(followed)
    # Which of them Hypothesis reaches depends on its draws (a DELETE, a GET, a comment...);
    # that some call used an id a create answered with is what shows a link was followed.
    on_an_issue = {label for label in reached if "/api/v1/issues/{issue_id}" in label}
    assert on_an_issue, followed
    print(f"stateful: {len(followed)} calls over {len(reached)} operations: {sorted(reached)}")
