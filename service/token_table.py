"""How `python -m service token list` prints tokens: a plain table or JSON.

Never the token or its hash: the database has only the hash, and even that
stays out of every listing.
"""

from __future__ import annotations

import datetime
import json

from .domain.times import iso_seconds, utcnow
from .storage.tokens import TokenRecord

COLUMNS = ("ID", "EMAIL", "ROLE", "CREATED", "LAST USED", "EXPIRES", "STATUS")


def status(record: TokenRecord, now: datetime.datetime) -> str:
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"


def render_json(records: list[TokenRecord]) -> str:
    now = utcnow()
    return json.dumps(
        [
            {
                "id": r.id,
                "email": r.email,
                "role": r.role,
                "created_at": iso_seconds(r.created_at),
                "last_used_at": iso_seconds(r.last_used_at),
                "expires_at": iso_seconds(r.expires_at),
                "revoked_at": iso_seconds(r.revoked_at),
                "status": status(r, now),
            }
            for r in records
        ],
        indent=2,
    )


def render_table(records: list[TokenRecord]) -> str:
    """Columns padded to their widest cell; `-` for never (used, expiring)."""
    now = utcnow()
    rows = [COLUMNS] + [
        (
            str(r.id),
            r.email,
            r.role,
            iso_seconds(r.created_at) or "-",
            iso_seconds(r.last_used_at) or "-",
            iso_seconds(r.expires_at) or "-",
            status(r, now),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
