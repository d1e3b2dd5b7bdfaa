"""PostgreSQL CPU per call of what ListIssues asks of storage, on a seeded benchmark database:

    .venv/bin/python -m bench.list_queries postgresql://postgres@127.0.0.1:5432/issues_bench_... [--calls 300]

Each case runs `issue_lists.counted_page` (the count and the page of 100 + 1,
as app/issues.list_issues asks) `--calls` times on one connection, and
reads that connection's backend's CPU from /proc before and after. Unlike
bench.run's PostgreSQL column, which adds up every postgres process on the
machine, no other work is counted: on a shared machine this is the figure to
compare. The database is one `bench.run --keep-db` or `bench.seed --keep` made.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable

from bench import seed
from service.domain.issue_filters import DEFAULT_ORDER, IssueFilter
from service.storage import database, issue_lists

CASES: dict[str, Callable[[int], tuple[IssueFilter, int]]] = {
    # bench.run's `ListIssues q` row: 'seeded' is in every issue, wK in 1% of them.
    "q 'seeded wK' (1% match)": lambda k: (IssueFilter(words=("seeded", f"w{k % 100}")), 0),
    # bench.run's cold-page row: one status and one priority, offsets 0 to 8,200.
    "one status and priority, at offsets 0-8,200": lambda k: (
        IssueFilter(statuses=("open",), priorities=("low",)),
        100 * (k % 83),
    ),
    "the first page, no filter": lambda k: (IssueFilter(), 0),
}


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.list_queries", description=__doc__.splitlines()[0])
    p.add_argument("database_url")
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args(argv)
    db = database.open_database(args.database_url, pool_size=1)  # one connection: one backend to read
    database.bind(db)

    def one(sql: str) -> Any:
        return database.transaction(lambda: db.execute_sql(sql).fetchone()[0])

    workspace_id = one(f"SELECT id FROM workspaces WHERE slug = '{seed.LIST_WORKSPACE}'")
    pid = one("SELECT pg_backend_pid()")

    def call(f: IssueFilter, offset: int) -> tuple[int, list[Any]]:
        return database.transaction(
            lambda: issue_lists.counted_page(workspace_id, f, None, DEFAULT_ORDER, limit=101, offset=offset, after=None)
        )

    print(f"load average {os.getloadavg()[0]:.1f}; {args.calls} calls a case; backend pid {pid}")
    for name, make in CASES.items():
        total, rows = call(*make(7))
        for k in range(20):  # warm the caches
            call(*make(k))
        cpu, wall = _backend_cpu(pid), time.perf_counter()
        for k in range(args.calls):
            call(*make(k))
        cpu, wall = _backend_cpu(pid) - cpu, time.perf_counter() - wall
        print(
            f"{name}: count {total:,}, {len(rows)} rows; PostgreSQL backend CPU {cpu / args.calls * 1e6:,.0f} µs/call, "
            f"wall {wall / args.calls * 1e6:,.0f} µs/call"
        )
    db.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
