"""Versioned schema migrations, applied in order by `service.storage.migrate`.

Each module is named `mNNNN_description.py` and defines `STATEMENTS`, a list
of SQL strings. `{uuid}`, `{serial}` and `{json}` are replaced with the
column types of the database in use, so one list serves SQLite and
PostgreSQL. A migration is never edited once released: add a new one.
"""
