"""What every way of serving does first, once: open and migrate the
database, and mint the first admin token on a database that has none.

Both `serve` and the supervisor of `serve --workers N` import it; it imports
neither of them, nor prometheus_client (see workers.py).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys

import peewee

from common import defaults

from ..app import tokens
from ..config import Settings
from ..storage import conninfo, database, migrate

log = logging.getLogger("service")


def prepare_database(settings: Settings) -> peewee.Database:
    """Open and migrate the database; on one with no tokens, mint and print the first."""
    db = database.open_database(settings.database_url, pool_size=settings.db_pool_size)
    database.bind(db)
    applied = migrate.migrate(db)
    message, fields = migrate.outcome(applied)
    log.info(message, extra=fields)
    first_token = tokens.bootstrap_admin_token()
    if first_token:
        print(first_token_banner(first_token, settings.database_url), flush=True)
    return db


def first_token_banner(token: str, database_url: str) -> str:
    """The first admin token, framed so that it stands out between pip's output and the JSON logs,
    with the one line that sets up a second terminal and how to mint another."""
    setup = [f"cd {shlex.quote(os.getcwd())}"]
    if sys.prefix != sys.base_prefix:  # a virtual environment: the second terminal needs it too
        setup.append(f"source {shlex.quote(sys.prefix)}/bin/activate")
    exports = f"export TOKEN={token}"
    # The operator commands there need the database too; a password stays
    # out of what is printed (and of the logs that keep stdout).
    secret = database_url != defaults.DATABASE_URL[1] and "password" in conninfo.parse(database_url).params
    if database_url != defaults.DATABASE_URL[1] and not secret:
        exports += f" DATABASE_URL={shlex.quote(database_url)}"
    rule = "=" * 78
    return "\n".join(
        [
            "",
            rule,
            "No API tokens existed, so one admin token was created for workspace 'default'.",
            "It is shown only this once; keep it:",
            "",
            f"    {token}",
            "",
            "In a second terminal, to use it:",
            f"    {' && '.join([*setup, exports])}",
            *(["    (and export DATABASE_URL as the server's: not shown, it holds a password)"] if secret else []),
            "Lost it? Mint another there (the server may keep running):",
            "    python -m service token create --workspace default --email you@example.com --role admin",
            rule,
            "",
        ]
    )
