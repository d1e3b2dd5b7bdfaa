"""Where attachment bytes live: a filesystem directory (the embedded default)
or an S3-compatible bucket.

Clients move bytes with signed URLs. The file store's URLs are the gateway's
`/blobs` routes, which reach this process over gRPC (api/blobs.py); S3's go
straight to the bucket.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from ..config import BlobSettings

SIGNING_KEY_NAME = "blob_url_signing_key"


class BlobStore(Protocol):
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
        """A URL that accepts one PUT of the object's bytes until `expires_at`,
        and the headers that PUT must carry."""

    def download_url(
        self, object_key: str, *, workspace_id: int, file_name: str, content_type: str, expires_at: datetime.datetime
    ) -> str:
        """A URL that serves the bytes until `expires_at`."""

    def uploaded_size(self, object_key: str) -> int | None:
        """The size of the stored object, or None if nothing is stored yet."""

    def sha256(self, object_key: str) -> str:
        """Hex SHA-256 of the stored bytes, read in chunks."""

    def delete(self, object_key: str) -> None:
        """Remove the object; absent objects are not an error."""


def open_store(settings: BlobSettings, signing_key: Callable[[], str]) -> BlobStore:
    """The store `settings.store` names.

    `signing_key` gives the file store's URL signing key, which every replica
    must share (the runtime keeps it in the database); S3 signs with its own.
    """
    if settings.store == "file":
        from .filesystem import FilesystemStore
        from .signing import Signer

        return FilesystemStore(settings.directory, settings.public_url, Signer(signing_key()))
    if settings.store.startswith("s3://"):
        from .s3 import S3Store

        return S3Store.from_url(settings.store, settings.s3_endpoint_url)
    raise ValueError(f"ISSUES_BLOB_STORE: expected 'file' or 's3://bucket', got {settings.store!r}")
