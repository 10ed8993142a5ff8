"""Which keys sealed this database, and the rows not yet under the current key.

`encryption_keys` holds each key's id with a known text sealed under it. At start-up
(`check_keys`) a key whose id is there must open that text; a key recorded there but absent
from the ring may only be dropped when no stored value is sealed under it any more, so a wrong
DATA_ENCRYPTION_KEY is told before anything is served, never shown as garbage in a chat.

Rows "stale" for a key are those holding plaintext (written before encryption) or a value
sealed under another key. They are found by the value's prefix (`enc1:<key id>:`), without
decrypting anything, and sealed again under the current key one batch at a time, each row with
a compare-and-set on the value read: a row that changed meanwhile (a job in flight) is left
alone, since whatever changed it sealed it under the current key already.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.models import Model
from tortoise.transactions import in_transaction

from storage.encrypted import (
    CHECK_TEXT,
    VERSION,
    EncryptedJSONField,
    EncryptedTextField,
    KeyRing,
    Undecryptable,
    prefix_of,
)
from storage.models import EncryptionKey, InboxUpdate, Job


@dataclass(frozen=True)
class Sealed:
    """The encrypted columns of one table."""

    table: str
    key: str  # its primary key column
    columns: tuple[str, ...]


def _sealed(model: type[Model]) -> Sealed:
    meta = model._meta
    columns = tuple(
        field.source_field or name
        for name, field in meta.fields_map.items()
        if isinstance(field, (EncryptedTextField, EncryptedJSONField))
    )
    return Sealed(meta.db_table, meta.pk.source_field or meta.pk_attr, columns)


JOBS = _sealed(Job)
INBOX = _sealed(InboxUpdate)
SEALED_TABLES = (JOBS, INBOX)


def _literal(text: str) -> str:
    # Only our own prefixes, made of "enc1", ":" and hex digits, are ever inlined.
    assert all(c.isalnum() or c == ":" for c in text), text
    return f"'{text}'"


def _stale(column: str, kid: str) -> str:
    """The value is there but not sealed under key `kid` (plaintext or another key). Read as
    text: a database from before encryption still has JSON columns on PostgreSQL."""
    prefix = prefix_of(kid)
    value = f"CAST({column} AS TEXT)"
    return (
        f"({column} IS NOT NULL AND {value} <> ''"
        f" AND substr({value}, 1, {len(prefix)}) <> {_literal(prefix)})"
    )


def _under(column: str, kid: str) -> str:
    prefix = prefix_of(kid)
    return f"(substr(CAST({column} AS TEXT), 1, {len(prefix)}) = {_literal(prefix)})"


# A read-only query: the bot's Tortoise connection, or `check`'s own (it runs beside the bot).
Query = Callable[[str], Awaitable[list[dict[str, Any]]]]


async def tortoise_query(sql: str) -> list[dict[str, Any]]:
    return await connections.get("default").execute_query_dict(sql)


async def _count(table: Sealed, condition: str, query: Query) -> int:
    rows = await query(f"SELECT COUNT(*) AS n FROM {table.table} WHERE {condition}")
    return int(rows[0]["n"] or 0)


def stale_condition(table: Sealed, kid: str) -> str:
    return " OR ".join(_stale(column, kid) for column in table.columns)


async def count_stale(kid: str, query: Query = tortoise_query) -> int:
    """Rows holding a value in plaintext or under a key other than `kid`."""
    return sum([await _count(t, stale_condition(t, kid), query) for t in SEALED_TABLES])


async def count_under(kid: str, query: Query = tortoise_query) -> int:
    """Rows holding a value sealed under key `kid`."""
    total = 0
    for table in SEALED_TABLES:
        total += await _count(table, " OR ".join(_under(c, kid) for c in table.columns), query)
    return total


class WrongKey(Exception):
    """The ring cannot open this database; `str(self)` is the one line for the operator."""


async def unneeded_keys(ring: KeyRing, query: Query = tortoise_query) -> tuple[set[str], bool]:
    """(keys recorded but not in the ring that nothing is sealed under any more, whether the
    current key is recorded). Raises WrongKey when the ring cannot open this database."""
    rows = await query("SELECT key_id, check_value FROM encryption_keys")
    recorded = {str(row["key_id"]): str(row["check_value"]) for row in rows}
    for kid, check_value in recorded.items():
        if kid not in ring.key_ids:
            continue
        try:
            opened = ring.open(check_value)
        except Undecryptable:
            opened = None
        if opened != CHECK_TEXT:
            raise WrongKey(
                f"DATA_ENCRYPTION_KEY: a key given (id {kid}) is not the key of that id this "
                "database was encrypted with; set the key it was encrypted with"
            )
    unneeded = set()
    for kid in sorted(recorded.keys() - ring.key_ids):
        held = await count_under(kid, query)
        if held:
            raise WrongKey(
                f"DATA_ENCRYPTION_KEY does not open this database: {held} rows are sealed "
                f"under key {kid}, which is neither DATA_ENCRYPTION_KEY nor in "
                "DATA_ENCRYPTION_OLD_KEYS; start with the key the database was encrypted with "
                "(to rotate, keep the old one in DATA_ENCRYPTION_OLD_KEYS)"
            )
        unneeded.add(kid)
    return unneeded, ring.current_id in recorded


async def check_keys(ring: KeyRing, *, now: float | None = None) -> None:
    """Raise WrongKey unless the ring opens everything this database holds; then record the
    current key, and forget keys nothing is sealed under any more."""
    unneeded, recorded = await unneeded_keys(ring)
    if unneeded:
        await EncryptionKey.filter(key_id__in=sorted(unneeded)).delete()
    if not recorded:
        entry = EncryptionKey(
            key_id=ring.current_id,
            check_value=ring.seal(CHECK_TEXT),
            created_at=time.time() if now is None else now,
        )
        await EncryptionKey.bulk_create([entry], ignore_conflicts=True)  # instances at once


@dataclass(frozen=True)
class Batch:
    last_key: int | None  # the highest primary key looked at; None: nothing left after `after`
    rewritten: int  # values sealed again under the current key
    unopenable: int  # values no key of the ring opens (left as they are)


async def reseal_batch(table: Sealed, ring: KeyRing, *, after: int | None, limit: int) -> Batch:
    """Seal again under the current key the stale rows among the next `limit` of `table`
    after primary key `after`, in one transaction, each value with a compare-and-set."""
    kid = ring.current_id
    columns = ", ".join(table.columns)
    where = stale_condition(table, kid)
    if after is not None:
        where = f"{table.key} > {int(after)} AND ({where})"
    async with in_transaction() as connection:
        postgres = connection.capabilities.dialect == "postgres"
        marks = ("$1", "$2", "$3") if postgres else ("?", "?", "?")
        rows = await connection.execute_query_dict(
            f"SELECT {table.key} AS row_key, {columns} FROM {table.table}"
            f" WHERE {where} ORDER BY {table.key} LIMIT {int(limit)}"
        )
        rewritten = unopenable = 0
        for row in rows:
            for column in table.columns:
                value = row[column]
                if not isinstance(value, str) or not value or value.startswith(prefix_of(kid)):
                    continue
                try:
                    sealed = ring.reseal(value)
                except Undecryptable:
                    unopenable += 1
                    continue
                changed = await connection.execute_query_dict(
                    f"UPDATE {table.table} SET {column} = {marks[0]}"
                    f" WHERE {table.key} = {marks[1]} AND {column} = {marks[2]}"
                    f" RETURNING {table.key}",
                    [sealed, row["row_key"], value],
                )
                rewritten += len(changed)
    last = int(rows[-1]["row_key"]) if rows else None
    return Batch(last, rewritten, unopenable)


def is_sealed(value: str) -> bool:
    return value.startswith(VERSION + ":")


__all__: Sequence[str] = (
    "INBOX",
    "JOBS",
    "SEALED_TABLES",
    "Batch",
    "Sealed",
    "WrongKey",
    "check_keys",
    "count_stale",
    "count_under",
    "reseal_batch",
    "unneeded_keys",
)
