"""Migrations and the transaction runner, against each backend directly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.storage import database, migrate, models


@pytest.fixture
def fresh_db(fresh_database_url):
    db = database.open_database(fresh_database_url, pool_size=4)
    database.bind(db)
    yield db
    db.close_all()


def test_the_migrated_schema_is_exactly_the_models(fresh_db):
    migrate.migrate(fresh_db)
    with fresh_db.connection_context():
        for model in models.ALL_MODELS:
            table = model._meta.table_name
            columns = {c.name for c in fresh_db.get_columns(table)} - models.DATABASE_DERIVED.get(table, set())
            assert columns == set(model._meta.columns), model.__name__


def test_migrations_apply_once(fresh_db):
    applied = migrate.migrate(fresh_db)
    assert [m.version for m in applied] == [m.version for m in migrate.available()]
    assert migrate.migrate(fresh_db) == []
    with fresh_db.connection_context():
        assert migrate.applied_versions(fresh_db) == {m.version for m in migrate.available()}


def test_servers_starting_together_migrate_once(fresh_database_url):
    script = (
        "import sys; from service.storage import database, migrate;"
        "db = database.open_database(sys.argv[1]); database.bind(db);"
        "print(len(migrate.migrate(db)))"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, fresh_database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=60), *p.communicate()) for p in runs]

    assert [code for code, _, _ in results] == [0, 0, 0, 0], [err for _, _, err in results]
    applied = sorted(int(out) for _, out, _ in results)
    assert applied == [0, 0, 0, len(migrate.available())]


def test_a_failed_transaction_leaves_nothing(fresh_db):
    migrate.migrate(fresh_db)

    def half_then_fail():
        models.Workspace.create(slug="half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        database.transaction(half_then_fail, write=True)
    assert database.transaction(lambda: models.Workspace.select().where(models.Workspace.slug == "half").count()) == 0


@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_a_dead_connection_is_retried_on_a_fresh_one(backend, fresh_db, postgres_admin_url):
    migrate.migrate(fresh_db)
    pid = database.transaction(lambda: fresh_db.execute_sql("SELECT pg_backend_pid()").fetchone()[0])
    admin = database.open_database(postgres_admin_url, pool_size=1)
    with admin.connection_context():
        admin.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close_all()

    assert database.transaction(lambda: fresh_db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]) != pid


def test_an_unreachable_database_is_reported_as_unavailable():
    db = database.open_database("postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=1", pool_size=1)
    database.bind(db)
    with pytest.raises(database.DatabaseUnavailable):
        database.transaction(lambda: db.execute_sql("SELECT 1"))
    assert database.ping() is False


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:///", "sqlite:///:memory:"])
def test_unsupported_database_urls_are_refused_clearly(url):
    with pytest.raises(ValueError, match="DATABASE_URL"):
        database.open_database(url)
