"""How long each part of a stopping server gets, shared by `serve` and the
processes of `serve --workers N`.

Apart from server.py so that reading these numbers imports neither the
server nor, with it, prometheus_client.
"""

from __future__ import annotations

from ..config import Settings

# After the grace, how long cancelled calls get to report their failure.
CANCEL_MARGIN_SECONDS = 3.0


def gateway_grace_seconds(settings: Settings) -> float:
    # Longer than the gRPC side's drain, so that HTTP callers get its answer.
    return settings.shutdown_grace_seconds + CANCEL_MARGIN_SECONDS + 2
