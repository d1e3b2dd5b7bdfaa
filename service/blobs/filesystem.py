"""Attachment bytes as files under one directory.

Writes go to a temporary file that is fsynced and then hard-linked into place:
the link fails if the object exists, which is what refuses a second upload,
and a crash never leaves a half-written object under its final name.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import pathlib
import tempfile
import urllib.parse

from ..domain.errors import FailedPrecondition
from .signing import Signer


class FilesystemStore:
    def __init__(self, root: pathlib.Path, public_url: str | None, signer: Signer) -> None:
        self.root = root
        # Where clients reach a gateway (its /blobs routes); set by `serve`
        # from the in-process gateway's address when not configured.
        self.public_url = (public_url or "").rstrip("/")
        self.signer = signer
        (root / ".incoming").mkdir(parents=True, exist_ok=True)

    # -- URLs ----------------------------------------------------------------

    def _url(self, method: str, object_key: str, workspace_id: int, expires_at: datetime.datetime) -> str:
        if not self.public_url:
            raise FailedPrecondition(
                "attachments need the gateway's public address: set ISSUES_PUBLIC_URL to the HTTP gateway "
                "clients reach (python -m gateway), or run serve with HTTP on",
                reason="NO_PUBLIC_URL",
            )
        expires = int(expires_at.replace(tzinfo=datetime.UTC).timestamp())
        query = urllib.parse.urlencode(
            {"expires": expires, "signature": self.signer.sign(method, object_key, workspace_id, expires)}
        )
        return f"{self.public_url}/blobs/{object_key}?{query}"

    def upload_target(
        self,
        object_key: str,
        *,
        workspace_id: int,
        size_bytes: int,
        content_type: str,
        sha256: str | None,
        expires_at: datetime.datetime,
    ) -> tuple[str, dict[str, str]]:
        return self._url("PUT", object_key, workspace_id, expires_at), {}

    def download_url(
        self, object_key: str, *, workspace_id: int, file_name: str, content_type: str, expires_at: datetime.datetime
    ) -> str:
        return self._url("GET", object_key, workspace_id, expires_at)

    # -- bytes ---------------------------------------------------------------

    def path(self, object_key: str) -> pathlib.Path:
        parts = object_key.split("/")
        if len(parts) != 2 or not all(p and p not in (".", "..") for p in parts):
            raise ValueError(f"bad object key {object_key!r}")
        return self.root / parts[0] / parts[1]

    def uploaded_size(self, object_key: str) -> int | None:
        try:
            return self.path(object_key).stat().st_size
        except FileNotFoundError:
            return None

    def sha256(self, object_key: str) -> str:
        digest = hashlib.sha256()
        with open(self.path(object_key), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def delete(self, object_key: str) -> None:
        self.path(object_key).unlink(missing_ok=True)

    def new_upload(self) -> Upload:
        return Upload(self)


class Upload:
    """One upload in progress: a temporary file that becomes an object or vanishes."""

    def __init__(self, store: FilesystemStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.root / ".incoming")
        self._file = os.fdopen(fd, "wb")
        self._temp = pathlib.Path(name)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self, object_key: str) -> bool:
        """Place the bytes under `object_key`; False if an object is already there."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._store.path(object_key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self._temp, final)
        except FileExistsError:
            return False
        finally:
            self._temp.unlink(missing_ok=True)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the new name survives a crash too
        finally:
            os.close(directory)
        return True

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._temp.unlink(missing_ok=True)
