"""Pages of the rows that belong to one issue (its comments, its history).

Both are read the same way: oldest first by their key columns, from an
offset or after the position a page token carried (a row-value comparison,
which the key's index answers), with the total, and scoped to the caller's
workspace through the issue. The SQL is built once per table and shape.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import peewee

from . import prebuilt_sql
from .models import Issue

# Sample parameters for building SQL once (their values never reach a query).
_ANY = uuid.UUID(int=0)


def _sample(field: peewee.Field) -> Any:
    if isinstance(field, peewee.UUIDField):
        return _ANY
    if isinstance(field, peewee.DateTimeField):
        return datetime.datetime(2000, 1, 1)
    return 0


class IssueChildren:
    """Rows of `model` (a foreign key `issue`), in `key` order: the last key
    column is unique, so a position names exactly one row."""

    def __init__(self, name: str, model: type[peewee.Model], key: tuple[peewee.Field, ...]) -> None:
        self._name = name
        self._model = model
        self._key = key

    def _of_issue(self) -> peewee.Query:
        model = self._model
        return model.select(model).join(Issue).where((model.issue == _ANY) & (Issue.workspace == 0))

    def _ordered(self, query: peewee.Query) -> peewee.Query:
        # A page of 1 from offset 1: samples, the caller passes both.
        return query.order_by(*self._key).limit(1).offset(1)

    def page(
        self,
        workspace_id: int,
        issue_id: uuid.UUID,
        limit: int,
        offset: int,
        after: tuple[Any, ...] | None,
    ) -> tuple[list[Any], int]:
        """One page (model instances) after the position `after` (the key's
        values) or else from `offset`, and how many rows the issue has."""
        model, key = self._model, self._key
        scope = (model.issue.db_value(issue_id), workspace_id)
        total = prebuilt_sql.scalar(
            prebuilt_sql.sql((self._name, "count"), lambda: self._of_issue().select(peewee.fn.COUNT(key[-1]))), scope
        )
        if after is None:
            text = prebuilt_sql.sql((self._name, "page"), lambda: self._ordered(self._of_issue()))
            params: tuple[Any, ...] = (*scope, limit, offset)
        else:
            samples = [_sample(f) for f in key]
            text = prebuilt_sql.sql(
                (self._name, "page-after"),
                lambda: self._ordered(self._of_issue().where(peewee.Tuple(*key) > peewee.Tuple(*samples))),
            )
            position = tuple(f.db_value(v) for f, v in zip(key, after, strict=True))
            params = (*scope, *position, limit, offset)
        return prebuilt_sql.rows(model, text, params), total
