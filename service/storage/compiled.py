"""SQL that peewee generates once per dialect and the hot paths reuse.

Turning a peewee query into SQL costs about 0.4 ms of CPU, more than the
query itself takes on an indexed lookup. The hottest queries have a fixed
shape, so their SQL is generated from the peewee query once (with sample
parameters of the right types) and then run directly, converting columns
with the fields' python_value.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, NamedTuple

import peewee

from .database import database

_sql: dict[tuple[type, Hashable], str] = {}


def sql(key: Hashable, build: Callable[[], peewee.Query]) -> str:
    """The SQL text of `build()` for the bound database's dialect, cached under `key`.

    `build` must put its parameters in the order the callers pass them.
    """
    cache_key = (type(database.obj), key)
    text = _sql.get(cache_key)
    if text is None:
        text, _ = build().sql()
        _sql[cache_key] = text
    return text


def rows(model: type[peewee.Model], text: str, params: Iterable[Any], extras: tuple[str, ...] = ()) -> list[Any]:
    """Model instances from `text`, whose columns are the model's, in order,
    then one column for each name in `extras`, set as an attribute.

    Converting with each field's python_value directly skips peewee's cursor
    wrapper, which resolves the columns again for every query.
    """
    cursor = database.obj.execute_sql(text, tuple(params))
    converters = _converters(model)
    width = len(converters)
    out = []
    for row in cursor.fetchall():
        instance = model(__no_default__=True, **{name: convert(value) for (name, convert), value in zip(converters, row)})
        for name, value in zip(extras, row[width:]):
            setattr(instance, name, value)
        out.append(instance)
    return out


def records(model: type[peewee.Model], make: Callable[[list[Any]], Any], text: str, params: Iterable[Any]) -> list[Any]:
    """`make(values)` for each row of `text`, whose columns are the model's
    (converted with each field's python_value), then extra ones (as read).

    For reads that change nothing: a named tuple costs a fraction of a model
    instance, whose constructor sets every field through its descriptor.
    """
    cursor = database.obj.execute_sql(text, tuple(params))
    converters = _converters(model)
    width = len(converters)
    return [
        make([convert(value) for (_, convert), value in zip(converters, row)] + list(row[width:]))
        for row in cursor.fetchall()
    ]


_converters_by_model: dict[type, list[tuple[str, Callable[[Any], Any]]]] = {}


def _converters(model: type[peewee.Model]) -> list[tuple[str, Callable[[Any], Any]]]:
    found = _converters_by_model.get(model)
    if found is None:
        found = _converters_by_model[model] = [
            (field.name, lambda v, f=field: None if v is None else f.python_value(v))
            for field in getattr(model, "READ_FIELDS", model._meta.sorted_fields)
        ]
    return found


def execute(text: str, params: Iterable[Any]) -> None:
    database.obj.execute_sql(text, tuple(params))


def scalar(text: str, params: Iterable[Any]) -> Any:
    return database.obj.execute_sql(text, tuple(params)).fetchone()[0]


_ROWS_PER_INSERT = 64


class _InsertPlan(NamedTuple):
    fields: list[peewee.Field]  # the columns written, in peewee's order
    names: tuple[str, ...]  # their names: part of the SQL text's cache key
    step: int  # rows per statement


_insert_plans: dict[tuple[type, tuple[str, ...]], _InsertPlan] = {}


def _default(field: peewee.Field) -> Any:
    return field.default() if callable(field.default) else field.default


def _plan(model: type[peewee.Model], names: tuple[str, ...]) -> _InsertPlan:
    """The columns an INSERT naming `names` writes: peewee adds every field
    that has a Python default, in the model's order; the parameters follow."""
    given = (model, names)
    plan = _insert_plans.get(given)
    if plan is None:  # worked out once per model and set of columns, not per call
        fields = [f for f in model._meta.sorted_fields if f.name in names or f.default is not None]
        # Few enough parameters for any SQLite (999), few enough texts to keep.
        step = max(1, min(_ROWS_PER_INSERT, 999 // len(fields)))
        plan = _insert_plans[given] = _InsertPlan(fields, tuple(f.name for f in fields), step)
    return plan


def insert(model: type[peewee.Model], values: dict[str, Any]) -> None:
    """INSERT one row of the columns `values` names; the others take their defaults."""
    insert_many(model, [values])


def insert_many(model: type[peewee.Model], rows: list[dict[str, Any]]) -> None:
    """INSERT rows that all name the same columns: one statement per
    _ROWS_PER_INSERT rows, whose SQL is built once per model, columns and
    number of rows."""
    if not rows:
        return
    fields, names, step = _plan(model, tuple(rows[0]))
    for start in range(0, len(rows), step):
        chunk = rows[start:start + step]
        text = sql((model, "insert", names, len(chunk)), lambda: model.insert_many([{f: None for f in fields}] * len(chunk)))
        params = tuple(f.db_value(row[f.name] if f.name in row else _default(f)) for row in chunk for f in fields)
        database.obj.execute_sql(text, params)
