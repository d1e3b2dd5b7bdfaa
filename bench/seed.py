"""A fresh PostgreSQL database per run, migrated by the service and filled fast.

- `create_database()` makes `issues_bench_<random>`; `drop_database()` removes it.
- `seed()` runs the service's own migrations, mints one token per workspace with
  the service's `tokens.create_token`, then fills two workspaces with
  `INSERT ... SELECT ... FROM generate_series` (one statement each, no rows
  through Python): 100,000 issues in `bench-list` (ListIssues, GetIssue) and
  1,000,000 in `bench-metrics` (GetIssueMetrics). Creates go to a third,
  empty workspace, `bench-write`, so the read workloads stay fixed.
  Statuses and priorities cover every value evenly (all 12 pairs), created_at is
  spread over the last 60 days, resolved issues get a resolved_at after
  created_at. Each issue's description names its batch (`w0` to `w99`, a
  hundredth of the issues each), for the full-text search row. Then VACUUM ANALYZE, so the planner has statistics and the
  visibility map lets index-only scans skip the heap.

    python -m bench.seed --keep      # seed a scratch database, print its URL
    python -m bench.seed --drop NAME
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
import urllib.parse
from dataclasses import dataclass, field

import psycopg2

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

LIST_WORKSPACE = "bench-list"
METRICS_WORKSPACE = "bench-metrics"
WRITE_WORKSPACE = "bench-write"
EMAIL = "bench@example.com"

_INSERT = """
INSERT INTO issues (uuid, workspace_id, title, description, status, priority, tags, owner,
                    resolution_summary, created_by, created_at, updated_at, resolved_at,
                    job_run_id, session_ids, number, search_text)
SELECT gen_random_uuid(), %(workspace_id)s,
       'Benchmark issue ' || g,
       '[{"type":"paragraph","text":"Seeded by bench.seed for the load test, batch w' || (g %% 100) || '."}]',
       s.status,
       (ARRAY['low','medium','high'])[1 + (g / 4) %% 3],
       '["bench","seeded"]',
       'Unassigned',
       CASE WHEN s.status = 'resolved' THEN 'Fixed in the benchmark.' END,
       %(email)s,
       s.created_at,
       s.created_at,
       CASE WHEN s.status = 'resolved'
            THEN LEAST(s.created_at + random() * interval '5 days', %(now)s) END,
       NULL,
       '[]',
       g,
       -- The words search finds it by, as domain/search.py writes them.
       'benchmark issue ' || g || ' seeded by bench seed for the load test batch w' || (g %% 100)
           || CASE WHEN s.status = 'resolved' THEN ' fixed in the benchmark' ELSE '' END
FROM generate_series(1, %(rows)s) AS g
CROSS JOIN LATERAL (
    SELECT (ARRAY['open','in_progress','resolved','rejected'])[1 + g %% 4] AS status,
           %(now)s - random() * interval '60 days' AS created_at
) AS s
"""


@dataclass
class Seeded:
    url: str
    tokens: dict[str, str]  # workspace slug -> bearer token (role member)
    issue_ids: list[str]  # a random sample of issues in bench-list
    rows: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)


def _with_db(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def _connect(url: str):
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the benchmark uses a loopback PostgreSQL only")
    conn = psycopg2.connect(
        dbname=parts.path.lstrip("/") or "postgres",
        user=parts.username or "postgres",
        password=parts.password,
        host=parts.hostname,
        port=parts.port or 5432,
        connect_timeout=5,
    )
    conn.autocommit = True
    return conn


def _admin(admin_url: str, statement: str) -> None:
    conn = _connect(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create_database(admin_url: str = ADMIN_URL) -> tuple[str, str]:
    """Create `issues_bench_<random>`; return (name, url)."""
    name = f"issues_bench_{secrets.token_hex(4)}"
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    return name, _with_db(admin_url, name)


def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    if not name.startswith("issues_bench_"):
        raise ValueError(f"refusing to drop {name!r}: not a benchmark database")
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, list_rows: int = 100_000, metrics_rows: int = 1_000_000, log=print, fill: bool = True) -> Seeded:
    """Migrate, mint tokens and (when `fill`) insert the issues; `fill=False`
    reuses a database seeded before (new tokens, the rows already there)."""
    from service.app import tokens
    from service.storage import counters, database, migrate

    timings: dict[str, float] = {}
    t = time.perf_counter()
    db = database.open_database(url)
    database.bind(db)
    migrate.migrate(db)
    tokens = {
        slug: tokens.create_token(slug, EMAIL, "member", create_workspace=True)
        for slug in (LIST_WORKSPACE, METRICS_WORKSPACE, WRITE_WORKSPACE)
    }
    db.close_all()
    timings["migrate+tokens"] = time.perf_counter() - t

    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT slug, id FROM workspaces")
            ids = dict(cur.fetchall())
            cur.execute("SELECT now() AT TIME ZONE 'utc'")
            (now,) = cur.fetchone()
            if not fill:
                cur.execute("SELECT workspace_id, count(*) FROM issues GROUP BY workspace_id")
                counts = dict(cur.fetchall())
                list_rows, metrics_rows = counts.get(ids[LIST_WORKSPACE], 0), counts.get(ids[METRICS_WORKSPACE], 0)
                log(f"  reusing {url}: {list_rows:,} + {metrics_rows:,} issues")
            # Secondary indexes are dropped for the bulk insert and rebuilt
            # afterwards from their own definitions (a sorted build is several
            # times faster than 1.1M random-order insertions into each).
            cur.execute(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
                " JOIN pg_class i ON i.oid = x.indexrelid"
                " WHERE x.indrelid = 'issues'::regclass AND NOT x.indisprimary AND NOT x.indisunique"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
            )
            secondary = cur.fetchall() if fill else []
            for index_name, _ in secondary:
                cur.execute(f'DROP INDEX "{index_name}"')
            for slug, rows in ((LIST_WORKSPACE, list_rows), (METRICS_WORKSPACE, metrics_rows)) if fill else ():
                t = time.perf_counter()
                cur.execute(_INSERT, {"workspace_id": ids[slug], "email": EMAIL, "rows": rows, "now": now})
                cur.execute(
                    "INSERT INTO issue_tags (issue_uuid, workspace_id, tag)"
                    " SELECT uuid, workspace_id, t FROM issues, unnest(ARRAY['bench', 'seeded']) AS t"
                    " WHERE workspace_id = %s",
                    (ids[slug],),
                )
                # The numbers the rows took, so that creates continue after them.
                cur.execute("UPDATE workspaces SET issue_seq = %s WHERE id = %s", (rows, ids[slug]))
                timings[f"insert {slug}"] = time.perf_counter() - t
                log(f"  inserted {rows:,} issues into {slug} in {timings[f'insert {slug}']:.1f}s")
            if fill:
                t = time.perf_counter()
                cur.execute("SET maintenance_work_mem = '256MB'")
                for _, definition in secondary:
                    cur.execute(definition)
                timings["rebuild indexes"] = time.perf_counter() - t
                log(f"  rebuilt {len(secondary)} secondary indexes in {timings['rebuild indexes']:.1f}s")
                # The rows went in behind the service's back: recount its counters.
                t = time.perf_counter()
                db = database.open_database(url)
                database.bind(db)
                database.transaction(counters.rebuild, write=True)
                db.close_all()
                timings["rebuild counters"] = time.perf_counter() - t
                log(f"  rebuilt the issue counters in {timings['rebuild counters']:.1f}s")
            t = time.perf_counter()
            cur.execute("VACUUM (ANALYZE)")
            # Index-only scans skip the heap only on pages the visibility map
            # marks all-visible; a snapshot held elsewhere during VACUUM can
            # leave pages unmarked, so check and vacuum again if needed.
            for _ in range(3):
                cur.execute("SELECT relpages, relallvisible FROM pg_class WHERE relname = 'issues'")
                pages, visible = cur.fetchone()
                if visible >= 0.99 * pages:
                    break
                log(f"  only {visible}/{pages} pages all-visible; VACUUM again")
                time.sleep(1)
                cur.execute("VACUUM issues")
            timings["vacuum analyze"] = time.perf_counter() - t
            log(f"  VACUUM ANALYZE in {timings['vacuum analyze']:.1f}s ({visible:,} of {pages:,} pages all-visible)")
            cur.execute(
                "SELECT uuid::text FROM issues TABLESAMPLE SYSTEM (5) WHERE workspace_id = %s LIMIT 2000",
                (ids[LIST_WORKSPACE],),
            )
            sample = [r[0] for r in cur.fetchall()]
    finally:
        conn.close()
    return Seeded(url, tokens, sample, {LIST_WORKSPACE: list_rows, METRICS_WORKSPACE: metrics_rows}, timings)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.seed", description="Seed a scratch benchmark database.")
    p.add_argument("--admin-url", default=ADMIN_URL)
    p.add_argument("--list-rows", type=int, default=100_000)
    p.add_argument("--metrics-rows", type=int, default=1_000_000)
    p.add_argument("--keep", action="store_true", help="keep the database and print its URL and tokens")
    p.add_argument("--drop", metavar="NAME", help="drop a benchmark database and exit")
    args = p.parse_args(argv)
    if args.drop:
        drop_database(args.drop, args.admin_url)
        return 0
    name, url = create_database(args.admin_url)
    try:
        s = seed(url, args.list_rows, args.metrics_rows)
        print(f"url {url}")
        for slug, token in s.tokens.items():
            print(f"token {slug} {token}")
        print(f"issue {s.issue_ids[0]}")
    finally:
        if not args.keep:
            drop_database(name, args.admin_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
