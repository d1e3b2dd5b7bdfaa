"""Fixtures: every end-to-end test runs once on SQLite and once on PostgreSQL.

PostgreSQL comes from $ISSUES_TEST_POSTGRES_URL (default: the local server on
127.0.0.1:5432), else from a throwaway cluster started with initdb/pg_ctl.
If neither is possible the PostgreSQL half is skipped, loudly - unless
ISSUES_REQUIRE_POSTGRES=1 (CI sets it), when it fails.
"""

from __future__ import annotations

import os
import pathlib
from typing import Callable, Iterator

import grpc
import pytest

from . import harness

_skipped_postgres: list[str] = []
# The start of every "no PostgreSQL" skip reason: the summary collects them from
# the test reports, which reach the main process also when xdist workers ran them.
_NO_POSTGRES = "no throwaway PostgreSQL cluster could start"


def _postgres_required() -> bool:
    return os.environ.get("ISSUES_REQUIRE_POSTGRES") == "1"


def _new_cluster() -> harness.ThrowawayPostgres:
    """A throwaway cluster, or a loud skip (a failure when PostgreSQL is required)."""
    try:
        return harness.ThrowawayPostgres()
    except Exception as exc:  # noqa: BLE001 - any reason it cannot start
        reason = f"{_NO_POSTGRES}: {exc}"
        if _postgres_required():
            pytest.fail(reason + " (ISSUES_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("ISSUES_TEST_POSTGRES_URL", harness.DEFAULT_POSTGRES_URL)
    if harness._reachable(url):
        yield url
        return
    cluster = _new_cluster()  # nothing answers at `url`
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def own_postgres() -> Iterator[harness.ThrowawayPostgres]:
    """A PostgreSQL cluster of the test's own, which it may stop and start."""
    cluster = _new_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _new_database(backend: str, request: pytest.FixtureRequest, directory: pathlib.Path) -> Iterator[str]:
    """An empty SQLite file in `directory`, or a new PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'issues.db'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    url, name = harness.create_database(admin_url)
    try:
        yield url
    finally:
        harness.close_databases()
        harness.drop_database(admin_url, name)


@pytest.fixture(scope="session")
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from _new_database(backend, request, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def grpc_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.ServerProcess]:
    # Event streams idle for a second, not ten, before their keep-alive line
    # (test_events waits for one).
    server = harness.ServerProcess(
        database_url, tmp_path_factory.mktemp("server"), http=True, env={"ISSUES_SSE_HEARTBEAT_SECONDS": "1"}
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def channel(grpc_server: harness.ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_server.target) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        yield ch


@pytest.fixture
def make_token(database_url: str) -> Callable[..., tuple[str, str]]:
    """make_token(role="admin", workspace=None) -> (token, workspace slug); a fresh workspace unless named."""

    def make(role: str = "admin", workspace: str | None = None, email: str | None = None) -> tuple[str, str]:
        return harness.mint_token(database_url, role, workspace, email)

    return make


class Workspace:
    """A fresh workspace with a caller for each role."""

    def __init__(self, channel: grpc.Channel, make_token: Callable[..., tuple[str, str]]) -> None:
        self._channel = channel
        self._make_token = make_token
        token, self.slug = make_token("admin")
        self.admin = harness.Api(channel, token)
        self.member = self.api("member")
        self.viewer = self.api("viewer")

    def api(self, role: str, email: str | None = None) -> harness.Api:
        token, _ = self._make_token(role, self.slug, email)
        return harness.Api(self._channel, token)


@pytest.fixture
def workspace(channel: grpc.Channel, make_token: Callable[..., tuple[str, str]]) -> Workspace:
    return Workspace(channel, make_token)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `backend_independent` are decided before any query (bad
    input refused by parsing): run them on SQLite only, not once per backend.
    So does the standalone gateway's run of the HTTP contract (`gateway_url`):
    what it adds is the gRPC transport, not a database. Tests marked `long`
    go first."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("backend") == "postgres"
        independent = item.get_closest_marker("backend_independent") or (
            callspec is not None and callspec.params.get("gateway_url") == "standalone"
        )
        (dropped if on_postgres and independent else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # Tests marked `long` first (stable: the rest keep their order): xdist hands
    # tests out in this order, so the longest start while there is work beside them.
    items[:] = sorted(kept, key=lambda item: item.get_closest_marker("long") is None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple) and _NO_POSTGRES in report.longrepr[2]:
        _skipped_postgres.append(report.longrepr[2].removeprefix("Skipped: "))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_postgres:
        terminalreporter.section("PostgreSQL NOT TESTED", sep="!", red=True, bold=True)
        for reason in sorted(set(_skipped_postgres)):
            terminalreporter.line(reason, red=True)


@pytest.fixture
def fresh_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[str]:
    """An empty database of the current backend, for tests that restart servers."""
    yield from _new_database(backend, request, tmp_path)
