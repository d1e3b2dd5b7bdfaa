"""Entity tags (AIP-154): one short opaque string per state of a resource.

Derived from what moves with every change of what the resource shows (its
version; for an issue also the workspace's prefix, which its identifier
shows), so the tag changes exactly when the representation does. The
resource's id is in the hash too, so no two resources share a tag.
"""

from __future__ import annotations

import hashlib
import uuid

_blake2b = hashlib.blake2b


def etag(*parts: object) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).hexdigest()


def issue_etag(issue_id: uuid.UUID | str, version: int, prefix: str) -> str:
    """etag("issue", issue_id, version, prefix), spelled out: a list page makes a hundred."""
    return _blake2b(f"issue\x1f{issue_id}\x1f{version}\x1f{prefix}".encode(), digest_size=8).hexdigest()


def comment_etag(comment_id: uuid.UUID, version: int) -> str:
    return etag("comment", comment_id, version)
