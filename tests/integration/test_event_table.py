"""The event store's write and read path over asyncpg (services/infra/eventtable.py) and
the group committer on it, on the real Postgres: rows compatible with eventsourcing both
ways, a lost race costs only the loser (its personal-data key included), and a database
that cannot be reached, or a table lock not granted in time, is 503, never 500."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from eventsourcing.domain import Aggregate, event

from contracts.applications import Applicant, ApplicationIntake, Business
from services.domain.actors import Actor
from services.domain.errors import ConcurrencyConflict
from services.infra.groupcommit import GroupCommitter
from services.infra.personal_data import PersonalDataVault
from services.infra.store import EventStoreApplication, eventsourcing_env
from services.infra.unavailable import Unavailable
from services.runtime import System

pytestmark = pytest.mark.integration


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text
        self.edits: list[str] = []

    @event("Edited")
    def edit(self, text: str) -> None:
        self.edits.append(text)


class Notes(EventStoreApplication):
    name = "notes"


@pytest_asyncio.fixture
async def notes(database_url: str) -> AsyncIterator[tuple[Notes, GroupCommitter, asyncpg.Pool]]:
    app = Notes(env=eventsourcing_env(database_url))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    vault = PersonalDataVault(os.urandom(64))
    await vault.attach(pool)
    committer = GroupCommitter(app, lock_timeout_seconds=1)
    await committer.start(pool)
    try:
        yield app, committer, pool
    finally:
        await committer.stop()
        await pool.close()
        app.close()


async def test_rows_match_eventsourcing_both_ways(notes) -> None:
    app, committer, pool = notes
    ours = Note("ditulis lewat asyncpg")
    ours.edit("sekali")
    await committer.save(ours)
    theirs = Note("ditulis lewat eventsourcing")
    theirs.edit("dua")
    await asyncio.to_thread(app.save, theirs)
    # Each side reads what the other wrote, to the same aggregate.
    read_by_them = await asyncio.to_thread(app.repository.get, ours.id)
    assert (read_by_them.text, read_by_them.edits, read_by_them.version) == (
        "ditulis lewat asyncpg", ["sekali"], 2)
    read_by_us = await committer.load(theirs.id)
    assert (read_by_us.text, read_by_us.edits, read_by_us.version) == (
        "ditulis lewat eventsourcing", ["dua"], 2)
    assert (await committer.load(theirs.id, version=1)).edits == []
    assert await committer.load(uuid.uuid4()) is None
    # The stored bytes are what eventsourcing's mapper makes, and the ids one sequence.
    rows = await pool.fetch("SELECT originator_id, originator_version, topic, state, "
                            "notification_id FROM notes_events ORDER BY notification_id")
    assert [r["notification_id"] for r in rows] == [1, 2, 3, 4]
    for row in rows:
        stored = app.mapper.to_stored_event(app.mapper.to_domain_event(
            app.recorder.select_events(row["originator_id"], gt=row["originator_version"] - 1,
                                       lte=row["originator_version"])[0]))
        assert (stored.topic, stored.state) == (row["topic"], bytes(row["state"]))


async def test_a_lost_race_costs_the_loser_alone_and_its_key(notes) -> None:
    _, committer, pool = notes
    vault = PersonalDataVault(os.urandom(64))
    vault.pool = pool
    first = Note("pertama")
    await committer.save(first)
    # A batch of three commands; the middle one writes a version that exists already.
    stale = await committer.load(first.id)
    stale.edit("kalah")
    winners = [Note(f"menang {i}") for i in range(2)]
    envelopes = [await vault.seal(f"case:{n}", "data") for n in ("a", "b", "c")]
    keys = [vault.take_new_keys([e]) for e in envelopes]
    first.edit("lebih dulu")
    await committer.save(first)
    outcomes = await asyncio.gather(
        committer.save(winners[0], keys=keys[0]), committer.save(stale, keys=keys[1]),
        committer.save(winners[1], keys=keys[2]), return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ConcurrencyConflict)
    for note in winners:
        assert (await committer.load(note.id)).text.startswith("menang")
    assert (await committer.load(first.id)).edits == ["lebih dulu"]
    stored_keys = {r["key_id"] for r in await pool.fetch("SELECT key_id FROM subject_keys")}
    assert stored_keys == {keys[0][0].key_id, keys[2][0].key_id}


async def test_a_table_lock_not_granted_in_time_is_unavailable(notes, database_url) -> None:
    _, committer, _ = notes
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE notes_events IN EXCLUSIVE MODE")
            with pytest.raises(Unavailable):
                await committer.save(Note("menunggu kunci"))  # lock_timeout: 1 s
    finally:
        await holder.close()
    await committer.save(Note("kunci lepas"))  # and the writer goes on


async def test_vacuum_and_analyze_do_not_hold_up_writers(notes, database_url) -> None:
    """VACUUM and ANALYZE (autovacuum's, an operator's) hold SHARE UPDATE EXCLUSIVE on
    the table for as long as they run. A table lock taken by the writers would wait on
    it: every intake stalled for deadlock_timeout (1 s) until Postgres cancelled the
    autovacuum, which then never finished on the events table (measured: bench.intake,
    one 1 s stall of every connection when autovacuum met the load)."""
    _, committer, pool = notes
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE notes_events IN SHARE UPDATE EXCLUSIVE MODE")
            written = Note("selama vakum")
            await asyncio.wait_for(committer.save(written), 5)  # lock_timeout would be 1 s
    finally:
        await holder.close()
    assert (await committer.load(written.id)).text == "selama vakum"
    await pool.execute("VACUUM ANALYZE notes_events")  # and it runs to its end


async def test_writers_commit_their_notification_ids_in_order(notes) -> None:
    """Writers still take turns from their first id to their commit: a reader following
    `notification_id` never passes an id a later commit fills. Two writers: the second
    waits for the first transaction, which holds the writers' lock, to end."""
    _, committer, pool = notes
    await committer.save(Note("pertama"))
    async with pool.acquire() as first:
        tx = first.transaction()
        await tx.start()
        await first.fetch(committer.table._append, [uuid.uuid4()], [1],
                          ["tests.integration.test_event_table:Note.Written"],
                          [b'{"text":"di tengah"}'], [], [], [])
        second = asyncio.create_task(committer.save(Note("kedua")))
        await asyncio.sleep(0.3)
        assert not second.done()  # waits for the first writer's transaction
        await tx.commit()
    await asyncio.wait_for(second, 5)
    ids = [r["notification_id"] for r in await pool.fetch(
        "SELECT notification_id FROM notes_events ORDER BY notification_id")]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 3


async def test_a_lost_database_is_unavailable(database_url: str) -> None:
    app = Notes(env=eventsourcing_env(database_url))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    committer = GroupCommitter(app)
    await committer.start(pool)
    try:
        await pool.close()  # what a lost server leaves: no connection to be had
        with pytest.raises(Unavailable):
            await committer.save(Note("tanpa basis data"))
    finally:
        await committer.stop()
        app.close()


# -- through the service: idempotent intake, racing intakes --------------------------------
OSS = Actor(id="oss-gateway", role="channel", channel="oss")


def intake(external_id: str, nik: str) -> ApplicationIntake:
    return ApplicationIntake(
        channel="oss", external_id=external_id, service_code="SS-KBLI-10510",
        applicant=Applicant(name="Siti Rahma", nik=nik),
        business=Business(name="CV Susu", kbli="10510", scale="kecil",
                          in_industrial_estate=False, address="Purwakarta"))


async def test_racing_repeats_of_one_intake_create_one_case(system: System) -> None:
    # The same intake 20 times at once, among 20 other intakes: they share batches.
    repeats = [system.applications.submit(intake("SAMA-1", "3214010101800001"), OSS)
               for _ in range(20)]
    others = [system.applications.submit(intake(f"LAIN-{i}", f"32140101018{i:05d}"), OSS)
              for i in range(20)]
    results: list[Any] = await asyncio.gather(*repeats, *others)
    created = [made for _, made in results[:20]]
    assert created.count(True) == 1
    assert len({case.id for case, _ in results[:20]}) == 1
    assert all(made for _, made in results[20:])
    assert system.pool is not None
    counts = await system.pool.fetchrow(
        "SELECT count(*) AS events, count(DISTINCT originator_id) AS cases "
        "FROM applications_events")
    assert (counts["events"], counts["cases"]) == (21, 21)
    # One key per stored case (the losers' keys were never stored), each opens its case.
    assert await system.pool.fetchval("SELECT count(*) FROM subject_keys") == 21
    for case, _ in results:
        again = await system.applications.get(case.id)
        assert system.vault is not None
        assert system.vault.open(again.applicant)["name"] == "Siti Rahma"
    assert system.audit is not None
    report = await system.audit.verify()
    assert report["ok"], report
