"""Token administration: an optional expiry, revocation, and when each token was last used.

`last_used_at` is written in batches (at most once a minute per token), never per request.
"""

STATEMENTS = [
    "ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMP",
    "ALTER TABLE api_tokens ADD COLUMN revoked_at TIMESTAMP",
    "ALTER TABLE api_tokens ADD COLUMN last_used_at TIMESTAMP",
]
