"""Headers a download carries, whichever store serves its bytes."""

from __future__ import annotations

import urllib.parse


def content_disposition(file_name: str) -> str:
    """A download's Content-Disposition: the name in ASCII, and exactly in UTF-8."""
    fallback = file_name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(file_name)}"
