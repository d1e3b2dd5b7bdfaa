"""What operator commands print about the database never holds its password,
whichever form of connection string carries it."""

from __future__ import annotations

import pytest

from service import operator_database
from service.runtime.bootstrap import first_token_banner


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ann:s3cret@h1:5432,h2:5433/issues?target_session_attrs=read-write",
        "host=db password=s3cret dbname=issues",
        "postgresql:///issues?password=s3cret",
    ],
)
def test_a_postgresql_database_is_named_without_its_password(url):
    shown = operator_database.shown(url)
    assert "s3cret" not in shown and "issues" in shown
    banner = first_token_banner("iss_token", url)
    assert "s3cret" not in banner and "export TOKEN=iss_token" in banner and "holds a password" in banner


def test_a_sqlite_database_is_its_absolute_path_and_a_plain_url_is_pasteable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert operator_database.shown("sqlite:///issues.db") == str(tmp_path / "issues.db")
    assert "DATABASE_URL=postgresql://ann@db/issues" in first_token_banner("iss_token", "postgresql://ann@db/issues")
