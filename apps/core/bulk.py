"""Writing tens of thousands of rows in one pass: PostgreSQL's COPY, not INSERT or UPDATE text.

A pass at 100,000 pending jobs admits 20,000 jobs (attempts, events, 100,000 GPU allocations)
and rewrites as many pending reasons. ``bulk_create`` spends most of that building model
instances and quoting one huge statement in Python; COPY streams plain rows. Columns a row does
not give take the model field's default, computed once (``auto_now``/``auto_now_add``: ``now``),
so a field added later needs no change here. Other databases (SQLite, embedded) fall back to
the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from psycopg import sql


def copy_insert(model: type[models.Model], rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Insert ``rows`` (attname → value) into ``model``'s table; an auto id comes from the database."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create([model(**row) for row in rows], batch_size=1000)
        return
    given = set(rows[0])
    columns: list[str] = []
    defaults: dict[str, Any] = {}
    for f in model._meta.concrete_fields:
        if isinstance(f, models.AutoField | models.BigAutoField | models.SmallAutoField) and f.attname not in given:
            continue
        columns.append(f.attname)
        if f.attname in given:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value: Any = now
        elif f.has_default():
            value = f.get_default()
        elif f.null:
            value = None
        else:
            raise ValueError(f"{model.__name__}.{f.attname} has no default: give it in every row")
        defaults[f.attname] = f.get_db_prep_save(value, connection)
    prepare = {f.attname: f for f in model._meta.concrete_fields if f.attname in given}
    json_fields = {name for name, f in prepare.items() if isinstance(f, models.JSONField)}
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    (prepare[name].get_db_prep_save(row[name], connection) if name in json_fields else row[name])
                    if name in given
                    else defaults[name]
                    for name in columns
                ]
            )


def copy_update(
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Any]],
    assign: str,
    where: str,
    params: Sequence[Any],
) -> None:
    """``UPDATE table SET assign FROM (rows) AS v WHERE table.id = v.id AND where``: the rows go
    through COPY into a temporary table first. ``columns``: (name, SQL type), the first ``id``."""
    temp = f"_paddock_{table}_{'_'.join(name for name, _ in columns)}"  # one per shape of update
    definition = ", ".join(f"{name} {kind}" for name, kind in columns)
    names = sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    with transaction.atomic():  # the temporary table lives until the transaction ends
        _copy_update(temp, definition, names, table, rows, assign, where, params)


def _copy_update(
    temp: str,
    definition: str,
    names: sql.Composable,
    table: str,
    rows: Iterable[Sequence[Any]],
    assign: str,
    where: str,
    params: Sequence[Any],
) -> None:
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        cursor.execute(sql.SQL(f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} ({definition}) ON COMMIT DROP"))  # type: ignore[arg-type]
        cursor.execute(sql.SQL(f"TRUNCATE {temp}"))  # type: ignore[arg-type]
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(temp), names)) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            # Names and clauses are the caller's constants; values travel as parameters.
            sql.SQL(f"UPDATE {table} SET {assign} FROM {temp} AS v WHERE {table}.id = v.id AND {where}"),  # type: ignore[arg-type]  # noqa: S608
            list(params),
        )
