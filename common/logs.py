"""Structured logging: one JSON object per line on stderr, the same shape in
the server, the gateway and the CLI."""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import sys
import threading
import time

_RESERVED = set(vars(logging.makeLogRecord({})))
# Fields every line of this process carries (`tag`): which worker process wrote it.
_TAGS: dict[str, object] = {}


def tag(**fields: object) -> None:
    """Add `fields` to every line this process logs from now on (e.g. `worker=2`)."""
    _TAGS.update(fields)


# The last second formatted (an access line per request formats the same one again and again).
_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    global _second
    second, text = _second
    if int(created) != second:
        second = int(created)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = (second, text)  # one assignment: threads see the old pair or the new one
    return f"{text}.{int(created * 1000) % 1000:03d}Z"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_TAGS,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _AfterAccessLines(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes a record after the access lines pending, so that lines keep their order."""

    def emit(self, record: logging.LogRecord) -> None:
        _access_lines.flush()
        super().emit(record)


def configure(level: str = "INFO") -> None:
    handler = _AfterAccessLines(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class _AccessLines:
    """Access lines gathered in memory and written to stderr a few kilobytes at a time.

    One write(2) per line was a measurable share of a call's CPU under load.
    Lines are written once a chunk fills, and otherwise at most
    `FLUSH_SECONDS` after the first line of a chunk by a daemon thread, so a
    line shows within tens of milliseconds; `flush()` writes what is pending,
    and runs at exit, before a fork, and where a process ends by `os._exit`.
    Each write holds whole lines, at most `PIPE_BUF` bytes when more than one,
    so it stays atomic on a pipe and no other writer's line lands inside one.
    """

    FLUSH_SECONDS = 0.05
    CHUNK_BYTES = select.PIPE_BUF

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._size = 0
        self._due = threading.Event()  # set when a chunk starts: the flusher wakes
        self._flusher: threading.Thread | None = None
        self._owner = os.getpid()

    def add(self, line: bytes) -> None:
        with self._lock:
            pending = self._pending
            pending.append(line)
            self._size += len(line)
            if self._size < self.CHUNK_BYTES:
                if len(pending) == 1:
                    self._wake_flusher()
                return
            self._pending, self._size = [], 0
        self._write(pending)

    def flush(self) -> None:
        """Write every pending line now."""
        with self._lock:
            pending, self._pending, self._size = self._pending, [], 0
        self._write(pending)

    def _wake_flusher(self) -> None:
        # Under the lock. A forked child starts its own flusher (threads do not survive a fork).
        if self._flusher is None or self._owner != os.getpid():
            self._owner = os.getpid()
            self._due = threading.Event()
            self._flusher = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._flusher.start()
        self._due.set()

    def _run(self) -> None:
        due = self._due
        while True:
            due.wait()
            time.sleep(self.FLUSH_SECONDS)
            due.clear()
            self.flush()

    def _write(self, lines: list[bytes]) -> None:
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > self.CHUNK_BYTES:
                _write_all(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            _write_all(b"".join(chunk))

    def forget_in_child(self) -> None:
        """After a fork: the parent wrote (or will write) its own pending lines."""
        self._lock = threading.Lock()
        self._pending, self._size, self._flusher = [], 0, None


def _write_all(data: bytes) -> None:
    try:
        fd = sys.stderr.fileno()
        while data:
            data = data[os.write(fd, data) :]
    except (OSError, ValueError):  # stderr closed or gone: nothing left to tell
        pass


_access_lines = _AccessLines()
atexit.register(_access_lines.flush)
os.register_at_fork(before=_access_lines.flush, after_in_child=_access_lines.forget_in_child)


def flush() -> None:
    """Write the access lines still pending (a process ending by os._exit calls this first)."""
    _access_lines.flush()


# json.dumps(entry, default=str) as one encoder, not one made per call.
_ENCODER = json.JSONEncoder(default=str)


def access_line(logger: logging.Logger, msg: str, **fields: object) -> None:
    """One INFO line per request, in the JSON shape above, at a fraction of the cost.

    A LogRecord, a formatter and the handler's lock cost about a sixth of a
    GetIssue's CPU under load; this formats the same line and hands it to
    `_AccessLines`, which writes many lines per write(2).
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    entry = {"ts": _timestamp(time.time()), "level": "info", "logger": logger.name, "msg": msg, **_TAGS, **fields}
    _access_lines.add((_ENCODER.encode(entry) + "\n").encode())
