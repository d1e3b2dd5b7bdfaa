"""SQL that peewee generates once per dialect and the hot paths reuse.

Turning a peewee query into SQL costs about 0.4 ms of CPU, more than the
query itself takes on an indexed lookup. The hottest queries have a fixed
shape, so their SQL is generated from the peewee query once (with sample
parameters of the right types) and then run directly, converting columns
with the fields' python_value.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Iterator, NamedTuple

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
    names = [f.name for f in _read_fields(model)]
    width = len(names)
    out = []
    for values in _converted(model, text, params):
        instance = model(__no_default__=True, **dict(zip(names, values)))
        for name, value in zip(extras, values[width:]):
            setattr(instance, name, value)
        out.append(instance)
    return out


def records(model: type[peewee.Model], make: Callable[[list[Any]], Any], text: str, params: Iterable[Any]) -> list[Any]:
    """`make(values)` for each row of `text`, whose columns are the model's
    (converted with each field's python_value), then extra ones (as read).

    For reads that change nothing: a named tuple costs a fraction of a model
    instance, whose constructor sets every field through its descriptor.
    """
    return [make(values) for values in _converted(model, text, params)]


def converted(model: type[peewee.Model], row: Iterable[Any]) -> list[Any]:
    """One row of the model's columns, in order, as the driver gave them: converted as `records` does."""
    return _convert(row, _converters(model, type(database.obj)))


def _convert(row: Iterable[Any], converting: Any) -> list[Any]:
    values = list(row)
    for i, convert in converting:
        value = values[i]
        if value is not None:
            values[i] = convert(value)
    return values


def _converted(model: type[peewee.Model], text: str, params: Iterable[Any]) -> Iterator[list[Any]]:
    """The rows of `text` as lists, the model's columns converted where the driver's value is not already it."""
    db = database.obj
    cursor = db.execute_sql(text, tuple(params))
    converting = _converters(model, type(db))
    for row in cursor.fetchall():
        yield _convert(row, converting)


def _read_fields(model: type[peewee.Model]) -> tuple[peewee.Field, ...]:
    return tuple(getattr(model, "READ_FIELDS", model._meta.sorted_fields))


# Fields whose python_value only coerces to the type both drivers already give.
_AS_READ = (peewee.CharField, peewee.TextField, peewee.IntegerField, peewee.BigIntegerField, peewee.AutoField)
# ... and those psycopg2 gives as Python's own type too (SQLite gives their text;
# peewee registers psycopg2's uuid type, so a uuid column arrives as a UUID).
_AS_READ_POSTGRES = (*_AS_READ, peewee.DateTimeField, peewee.DateField, peewee.UUIDField)


def _as_read(field: peewee.Field, plain: tuple[type, ...]) -> bool:
    if type(field) is peewee.ForeignKeyField:  # read as the column it refers to
        return _as_read(field.rel_field, plain)
    return type(field) in plain


_converters_by_model: dict[tuple[type, type], list[tuple[int, Callable[[Any], Any]]]] = {}


def _converters(model: type[peewee.Model], dialect: type) -> list[tuple[int, Callable[[Any], Any]]]:
    """(column index, python_value) of the columns that need converting:
    a call per column of every row was a measurable share of a page's CPU."""
    found = _converters_by_model.get((model, dialect))
    if found is None:
        plain = _AS_READ_POSTGRES if issubclass(dialect, peewee.PostgresqlDatabase) else _AS_READ
        found = _converters_by_model[(model, dialect)] = [
            (i, field.python_value) for i, field in enumerate(_read_fields(model)) if not _as_read(field, plain)
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
        chunk = rows[start : start + step]
        text = sql(
            (model, "insert", names, len(chunk)),
            lambda: model.insert_many([{f: None for f in fields}] * len(chunk)),  # noqa: B023 - called here
        )
        params = tuple(f.db_value(row[f.name] if f.name in row else _default(f)) for row in chunk for f in fields)
        database.obj.execute_sql(text, params)
