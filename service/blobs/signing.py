"""HMAC signatures for the filesystem store's URLs.

A signature covers the HTTP method, the object key, the workspace and the
expiry, so a URL cannot be reused for another object, another workspace,
another verb or past its time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class Signer:
    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def sign(self, method: str, object_key: str, workspace_id: int, expires: int) -> str:
        message = f"{method}\n{object_key}\n{workspace_id}\n{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(
        self, method: str, object_key: str, workspace_id: int, expires: int, signature: str, *, now: float | None = None
    ) -> str | None:
        """None when valid, else why not ("expired" or "invalid signature")."""
        expected = self.sign(method, object_key, workspace_id, expires)
        # compare_digest takes only ASCII strings; no signature is anything else.
        if not signature.isascii() or not hmac.compare_digest(expected, signature):
            return "invalid signature"
        if (now if now is not None else time.time()) > expires:
            return "expired"
        return None
