"""Cluster-wide locks: PostgreSQL advisory locks scoped to the current transaction."""

from __future__ import annotations

import zlib

from django.db import connection


def try_transaction_lock(name: str) -> bool:
    """Take the named lock until the current transaction ends; False when another holds it.

    Must run inside ``transaction.atomic``. On SQLite (the embedded default) writers are
    already serialised by ``BEGIN IMMEDIATE``, so the lock is always granted.
    """
    if connection.vendor != "postgresql":
        return True
    key = zlib.crc32(name.encode()) - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        row = cursor.fetchone()
    return bool(row and row[0])
