"""A live batch's read-model rows, and the counts kept beside them, go in as one statement
(each column one array), on real Postgres: every type the read models use, NULLs, a row
replaced, a key twice in one batch (its last row wins, as upserting the rows in turn
would leave it), counts moved up and down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from projections.counts import add_counts
from projections.doc_table import RowWriter, decode_doc, encode_doc

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
ROWS = RowWriter("row_writer_check", "id", ("id", "kind", "n", "closed", "at", "doc", "born"),
                 kept=("born",))


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS row_writer_check; CREATE TABLE row_writer_check ("
            "id uuid PRIMARY KEY, kind text, n integer, closed boolean, at timestamptz, "
            "doc jsonb NOT NULL, born timestamptz NOT NULL);"
            # Each INSERT statement run on the table, counted by Postgres itself.
            "CREATE TEMP TABLE statements (n integer NOT NULL); INSERT INTO statements VALUES (0);"
            "CREATE FUNCTION pg_temp.count_statement() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN UPDATE statements SET n = n + 1; RETURN NULL; END$$;"
            "CREATE TRIGGER counted AFTER INSERT ON row_writer_check "
            "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_statement();"
            "DROP TABLE IF EXISTS counts_check; CREATE TABLE counts_check ("
            "month text NOT NULL, fact text NOT NULL, n bigint NOT NULL, "
            "PRIMARY KEY (month, fact));"
            "CREATE TRIGGER counted AFTER INSERT ON counts_check "
            "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.count_statement()")
        yield conn
    finally:
        await conn.close()


async def table(conn: asyncpg.Connection) -> dict[str, tuple[object, ...]]:
    return {str(r["id"]): (r["kind"], r["n"], r["closed"], r["at"], decode_doc(r["doc"]),
                           r["born"])
            for r in await conn.fetch("SELECT * FROM row_writer_check")}


async def statements(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT n FROM statements"))


async def test_a_batch_is_upserted_with_its_types_and_nulls(conn: asyncpg.Connection) -> None:
    a, b = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
    await ROWS.upsert(conn, [
        (a, "application", 3, False, T0, encode_doc({"x": [1, "two", None]}), T0),
        (b, None, None, None, None, encode_doc({}), T0),
    ])
    assert await table(conn) == {
        a: ("application", 3, False, T0, {"x": [1, "two", None]}, T0),
        b: (None, None, None, None, {}, T0)}
    assert await statements(conn) == 1
    # Replaced, but for the column kept as it was; a key twice: its last row.
    later = datetime(2026, 12, 4, tzinfo=UTC)
    await ROWS.upsert(conn, [
        (a, "application", 4, True, later, encode_doc({"v": 4}), later),
        (a, "application", 5, True, later, encode_doc({"v": 5}), later),
    ])
    assert (await table(conn))[a] == ("application", 5, True, later, {"v": 5}, T0)
    await ROWS.upsert(conn, [])  # nothing to write, no statement
    assert len(await table(conn)) == 2
    assert await statements(conn) == 2


def test_the_key_must_be_one_of_the_columns() -> None:
    # The upsert's conflict target is a column it inserts.
    with pytest.raises(ValueError, match="the key 'id' is not one of the columns"):
        RowWriter("t", "id", ["c"])


async def test_counts_move_in_one_statement(conn: asyncpg.Connection) -> None:
    await add_counts(conn, "counts_check", "month, fact",
                     {("2026-11", "received"): 3, ("2026-12", "received"): 1,
                      ("2026-12", "closed"): 0})  # a move of nothing writes nothing
    await add_counts(conn, "counts_check", "month, fact",
                     {("2026-11", "received"): -1, ("2026-12", "closed"): 2})
    await add_counts(conn, "counts_check", "month, fact", {})
    rows = await conn.fetch("SELECT month, fact, n FROM counts_check ORDER BY 1, 2")
    assert [tuple(r) for r in rows] == [("2026-11", "received", 2), ("2026-12", "closed", 2),
                                        ("2026-12", "received", 1)]
    assert await statements(conn) == 2
