"""Built Issue messages, reused across list pages.

Turning a stored row into an Issue message costs tens of microseconds of
Python, and a 100-issue page pays it a hundred times while the same recent
issues are listed again and again. Entries are keyed by (uuid, updated_at):
every change to an issue moves its updated_at, so an entry can never be
stale; the attachments an issue shows are immutable once ready. Old entries
simply stop being asked for and fall out of the LRU.
"""

from __future__ import annotations

import collections
import datetime
import threading
import uuid

from issues.v1 import issue_pb2

Key = tuple[uuid.UUID, datetime.datetime]


class IssueMessages:
    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: collections.OrderedDict[Key, issue_pb2.Issue] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> issue_pb2.Issue | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Key, message: issue_pb2.Issue) -> None:
        with self._lock:
            self._entries[key] = message
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
