"""When each token was last used, kept without a database write per request.

Calls note their token in memory; a background thread writes what was noted
once a minute (one UPDATE per token used since), and `close()` writes the rest
at shutdown. So `last_used_at` is at most a minute behind, and each process
writes a token's row at most once a minute however busy the token is.
"""

from __future__ import annotations

import datetime
import logging
import threading

from common.periodic import Periodic

from ..domain.errors import Unavailable
from ..domain.times import utcnow
from ..storage import tokens as tokens_store
from ..storage.database import transaction

log = logging.getLogger("service.tokens")

FLUSH_SECONDS = 60.0


class UsageRecorder:
    def __init__(self, interval: float = FLUSH_SECONDS) -> None:
        self._pending: dict[int, datetime.datetime] = {}
        self._lock = threading.Lock()
        self._loop = Periodic("token-usage", interval, self.flush)

    def note(self, token_id: int) -> None:
        # A dict store under a lock: cheap enough for every call.
        now = utcnow()
        with self._lock:
            self._pending[token_id] = now

    def flush(self) -> None:
        """Write what was noted since the last flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            transaction(lambda: tokens_store.record_use(sorted(pending.items())), write=True)
        except Exception as exc:  # noqa: BLE001 - a lost "last used" must never fail or stop serving
            if isinstance(exc, Unavailable):  # a database restart is expected: one line, no traceback
                log.warning("could not record token use; kept for the next flush", extra={"error": str(exc)})
            else:
                log.warning("could not record token use", exc_info=True)
            with self._lock:
                for token_id, at in pending.items():
                    self._pending.setdefault(token_id, at)

    def start(self) -> None:
        self._loop.start()

    def close(self) -> None:
        """Stop the thread and write what is still pending."""
        self._loop.stop(wait=True)
        self.flush()
