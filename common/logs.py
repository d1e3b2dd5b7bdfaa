"""Structured logging: one JSON object per line on stderr, the same shape in
the server, the gateway and the CLI."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

_RESERVED = set(vars(logging.makeLogRecord({})))
# Fields every line of this process carries (`tag`): which worker process wrote it.
_TAGS: dict[str, object] = {}


def tag(**fields: object) -> None:
    """Add `fields` to every line this process logs from now on (e.g. `worker=2`)."""
    _TAGS.update(fields)


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created * 1000) % 1000:03d}Z"


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


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def access_line(logger: logging.Logger, msg: str, **fields: object) -> None:
    """One INFO line per request, in the JSON shape above, at a fraction of the cost.

    A LogRecord, a formatter and the handler's lock cost about a sixth of a
    GetIssue's CPU under load; this writes the same line with one write(2),
    which is atomic for a line this short, so lines from threads never mix.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    entry = {"ts": _timestamp(time.time()), "level": "info", "logger": logger.name, "msg": msg, **_TAGS, **fields}
    os.write(sys.stderr.fileno(), (json.dumps(entry, default=str) + "\n").encode())
