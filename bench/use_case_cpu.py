"""CPU per call of the hot use cases, in-process and on one thread, from a kept benchmark database.

    python -m bench.use_case_cpu --database-url URL [--source DIR] [--calls N] GetIssue UpdateIssue CreateIssue

Measures this process's CPU (`time.process_time`: the service's Python below
the gRPC layer, app and storage) and the CPU of its one PostgreSQL backend
(`/proc/PID/stat`), per call. Both are CPU, not wall time, and the backend's
is that connection's alone, so a machine busy with other work inflates them
far less than the RPS and the all-of-PostgreSQL column of `bench.run`;
compare runs made back to back. `--source` runs the service code of another
checkout (`git archive REV | tar -x -C DIR`). Run on `bench-list`, the
100,000-issue workspace `bench.run --keep-db` leaves; UpdateIssue changes the
owner of the 500 newest issues, CreateIssue adds issues.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any, Callable


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.use_case_cpu", description=__doc__.split("\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--source", help="a checkout whose service code to measure (default: this one)")
    p.add_argument("--calls", type=int, default=400)
    p.add_argument("use_cases", nargs="+", choices=("GetIssue", "UpdateIssue", "CreateIssue"))
    args = p.parse_args(argv)
    if args.source:
        sys.path[:0] = [args.source, os.path.join(args.source, "gen")]
        for name in [m for m in sys.modules if m.split(".")[0] in ("service", "common", "issues")]:
            del sys.modules[name]

    from service.api.messages import JsonRenderer
    from service.app import issues
    from service.domain.identifiers import IssueRef
    from service.domain.roles import Principal, Role
    from service.storage import database

    first: tuple[Any, ...]  # what each use case takes before the principal
    try:
        from service.app.peewee_storage import PeeweeStorage
        from service.app.runner import Runner

        first = (Runner(PeeweeStorage(), JsonRenderer(), after_commit=lambda committed: None),)
    except ImportError:  # a checkout from before the Runner (--source): the renderer was a global
        from service.app.views import use_renderer  # type: ignore[attr-defined]

        use_renderer(JsonRenderer())
        first = ()
    db = database.open_database(args.database_url, pool_size=1)  # one connection: one backend to read
    database.bind(db)

    def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return database.transaction(lambda: list(db.execute_sql(sql, params).fetchall()))

    [(workspace_id, slug)] = query("SELECT id, slug FROM workspaces WHERE slug = 'bench-list'")
    ids = [
        uuid.UUID(str(r[0]))
        for r in query(
            "SELECT uuid FROM issues WHERE workspace_id = %s ORDER BY created_at DESC LIMIT 500", workspace_id
        )
    ]
    principal = Principal(workspace_id, slug, "bench@example.com", Role.ADMIN)
    values = {
        "title": "Checkout fails with a 502 under load",
        "status": "open",
        "priority": "medium",
        "description": [{"type": "paragraph", "text": "Seen by the load test."}],
        "tags": ["bench", "checkout"],
        "owner": "bench-team",
        "resolution_summary": None,
        "job_run_id": None,
        "session_ids": [],
        "attachment_ids": [],
        "refs": {},
    }
    run_tag = uuid.uuid4().hex[:8]
    calls: dict[str, Callable[[int], Any]] = {
        "GetIssue": lambda i: issues.get_issue(*first, principal, IssueRef(uuid=ids[i % len(ids)])),
        "UpdateIssue": lambda i: issues.update_issue(
            *first, principal, None, IssueRef(uuid=ids[i % len(ids)]), {"owner": f"cpu-{run_tag}-{i}"}
        ),  # type: ignore[arg-type]
        "CreateIssue": lambda i: issues.create_issue(*first, principal, None, values),  # type: ignore[arg-type]
    }
    [(backend,)] = query("SELECT pg_backend_pid()")

    def backend_cpu() -> float:
        with open(f"/proc/{backend}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    for name in args.use_cases:
        call = calls[name]
        for i in range(20):  # warm: compiled SQL, caches
            call(i)
        python, postgres, wall = time.process_time(), backend_cpu(), time.perf_counter()
        for i in range(args.calls):
            call(i)
        n = args.calls
        python, postgres, wall = time.process_time() - python, backend_cpu() - postgres, time.perf_counter() - wall
        [(still,)] = query("SELECT pg_backend_pid()")
        assert still == backend, "the pool changed connections: the backend's CPU is not this run's"
        print(
            f"{name:12s} python {python / n * 1e6:6.0f} µs/call   PostgreSQL backend {postgres / n * 1e6:6.0f} µs/call"
            f"   wall {wall / n * 1e6:7.0f} µs/call"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
