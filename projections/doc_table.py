"""What the read models keep as one JSON document per aggregate share: the table made
from its DDL, dropped by name, each batch of events folded into the documents it
touches (`evolve`, pure) before the read model writes them back in its own columns —
and how those rows go in (`RowWriter`).

The documents are `jsonb`: Postgres keeps their value, not their text (it orders the
keys and drops the spaces), so how they are encoded here changes no byte a reader sees.
msgspec encodes and decodes them, several times faster than `json`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from services.infra.eventlog import LoggedEvent

Doc = dict[str, Any]
Evolve = Callable[[Doc | None, Doc], Doc | None]
"""A pure fold: the document after one event (the event as plain JSON data)."""

_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(dict[str, Any])


def encode_doc(doc: Doc) -> str:
    """A document as the JSON text its `jsonb` column takes."""
    return _encoder.encode(doc).decode()


def decode_doc(text: str | bytes) -> Doc:
    """A document read back from its `jsonb` column."""
    return _decoder.decode(text)


class RowWriter:
    """Rows of one aggregate each into `table`, keyed by `key`: upserted (a live batch:
    the row an aggregate has is replaced), or copied in (a rebuild: none is there yet,
    and each is written once)."""

    def __init__(self, table: str, key: str, columns: Sequence[str],
                 kept: Sequence[str] = ()) -> None:
        """`kept`: columns an upsert leaves as they are (they never change)."""
        self.table = table
        self.columns = list(columns)
        if key not in self.columns:
            raise ValueError(f"the key {key!r} is not one of the columns {self.columns}")
        self._key = self.columns.index(key)
        updated = [c for c in self.columns if c != key and c not in kept]
        self._conflict = (f"ON CONFLICT ({key}) DO UPDATE SET "
                          + ", ".join(f"{c} = excluded.{c}" for c in updated))

    async def upsert(self, conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """The batch's rows in one statement, each column sent as one array (a row per
        statement cost Postgres an executor run per row: the live path's costliest
        writes). A key twice in the batch: its last row (what upserting them in turn
        leaves; one statement may not update a row twice)."""
        if not rows:
            return
        rows = list({row[self._key]: row for row in rows}.values())
        await conn.execute(await batch_insert(conn, self.table, self.columns, self._conflict),
                           *columns_of(rows))

    def encode(self, rows: Sequence[tuple[Any, ...]]) -> bytes:
        """Rows as `copy` takes them: COPY's text format, made where the rows are folded
        (a rebuild's worker), so that the process holding the transaction only sends them
        (asyncpg's binary COPY would encode each value there: a third of its time).
        Instants as RFC 3339 text, made by msgspec for the whole batch at once; a string
        escaped where it has a backslash, newline, carriage return or tab (the JSON of a
        document seldom has one), NULL as `\\N`."""
        lines = []
        for row in msgspec.to_builtins(rows):
            line = "\t".join([v if type(v) is str else "\\N" if v is None else _text(v)
                              for v in row])
            # Most rows have nothing to escape: told by a few scans of the whole line
            # (its tabs are the separators alone, its backslashes the NULLs' alone).
            if (line.count("\\") != row.count(None) or line.count("\t") != len(row) - 1
                    or "\n" in line or "\r" in line):
                line = "\t".join([_escaped(v) if type(v) is str else "\\N" if v is None
                                  else _text(v) for v in row])
            lines.append(line)
        return ("\n".join(lines) + "\n").encode() if lines else b""

    async def copy(self, conn: asyncpg.Connection, encoded: bytes) -> None:
        """Rows (`encode`) none of which is in the table yet."""
        if encoded:
            await conn.copy_to_table(self.table, source=_once(encoded), columns=self.columns)


def columns_of(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as the arrays of their columns (what `unnest` takes)."""
    return [list(column) for column in zip(*rows, strict=True)]


_batch_inserts: dict[tuple[str, tuple[str, ...] | None, str], str] = {}
"""Each batch statement, made once its table's column types are read."""


async def batch_insert(conn: asyncpg.Connection, table: str, columns: Sequence[str] | None,
                       then: str) -> str:
    """`INSERT INTO table (columns) SELECT * FROM unnest($1::t1[], ...) <then>`: rows sent
    as one array a column (`columns_of`), so that a batch is one statement, one executor
    run, however many rows it has; each array typed as its column is (None: every column
    of the table, in order)."""
    key = (table, None if columns is None else tuple(columns), then)
    statement = _batch_inserts.get(key)
    if statement is None:
        types: dict[str, str] = {r["attname"]: r["type"] for r in await conn.fetch(
            "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
            "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum", table)}
        named = list(types) if columns is None else list(columns)
        arrays = ", ".join(f"${i}::{types[c]}[]" for i, c in enumerate(named, 1))
        statement = _batch_inserts[key] = (
            f"INSERT INTO {table} ({', '.join(named)}) SELECT * FROM unnest({arrays}) {then}")
    return statement


async def _once(data: bytes) -> AsyncIterator[bytes]:
    """`data` as COPY's source (asyncpg would take bare bytes for a file's name)."""
    yield data


def _escaped(text: str) -> str:
    """A string in COPY's text format."""
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))


def _text(value: Any) -> str:
    """A value in COPY's text format that is neither a string nor NULL (`encode` writes
    those itself)."""
    if type(value) is bool:
        return "t" if value else "f"
    if type(value) is int:
        return str(value)
    raise TypeError(f"no COPY form for {type(value).__name__}: {value!r}")


class DocTable:
    name: str
    """The table, and the read model's name in the tracking table."""
    streams: tuple[str, ...]
    ddl: str
    key: str = "id"
    """The column holding the aggregate's id."""

    async def create(self, conn: asyncpg.Connection) -> None:
        await conn.execute(self.ddl)

    async def drop(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"DROP TABLE IF EXISTS {self.name}")

    async def stored(self, conn: asyncpg.Connection,
                     data: Sequence[Doc]) -> dict[str, Doc | None]:
        """The documents of the aggregates these events (plain data) touch, as stored."""
        ids = list({UUID(d["case_id"]) for d in data})
        rows = await conn.fetch(
            f"SELECT {self.key}, doc FROM {self.name} WHERE {self.key} = ANY($1::uuid[])", ids)
        return {str(r[self.key]): decode_doc(r["doc"]) for r in rows}

    async def folded(self, conn: asyncpg.Connection, events: Sequence[LoggedEvent],
                     evolve: Evolve) -> dict[str, Doc | None]:
        """The documents the events touch, each read once and folded over its events in
        order; None where the fold keeps no document."""
        data = [e.data for e in events]
        return fold_into(await self.stored(conn, data), data, evolve)


def fold_into(docs: dict[str, Doc | None], data: Sequence[Doc],
              evolve: Evolve) -> dict[str, Doc | None]:
    """`docs` (by aggregate id) folded over the events (plain data) in order."""
    for d in data:
        docs[d["case_id"]] = evolve(docs.get(d["case_id"]), d)
    return docs
