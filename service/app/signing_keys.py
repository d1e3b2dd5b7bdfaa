"""HMAC keys from the server secrets every replica shares (kept in the database).

One key per purpose, derived from a secret of its own and a label, made on
first use and kept per bound database: page tokens and stream tickets are
signed with keys that can never stand for each other.
"""

from __future__ import annotations

import hashlib

from ..storage.database import database, transaction
from ..storage.secrets import server_secret

_keys: dict[tuple[int, str], tuple[object, bytes]] = {}


def signing_key(secret_name: str, label: bytes) -> bytes:
    """The key for `label`, from the bound database's secret `secret_name`.
    Call it outside a unit of work: the first call writes the secret in a
    transaction of its own."""
    db = database.obj
    found = _keys.get((id(db), secret_name))
    if found is None or found[0] is not db:
        secret = transaction(lambda: server_secret(secret_name), write=True)
        found = _keys[(id(db), secret_name)] = (db, hashlib.sha256(label + b"\x00" + secret.encode()).digest())
    return found[1]
