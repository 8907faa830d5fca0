"""The SQLite store: records survive reopening, state changes are compare-and-set, schema is
versioned, files are private."""

from __future__ import annotations

import sqlite3
import stat
from dataclasses import replace

import pytest

from signaling.models import (
    Hearing,
    HearingState,
    Participant,
    ParticipantState,
    new_hearing_id,
    new_participant_id,
    utc_now,
)
from signaling.roles import Role
from signaling.store import SCHEMA_VERSION, SqliteStore, StoreError, prepare_database


def hearing(**changes) -> Hearing:
    now = utc_now()
    base = Hearing(
        id=new_hearing_id(),
        case_number="(2025)沪0101民初1号",
        title="title",
        court="court",
        case_type="civil",
        public=False,
        scheduled_at="2025-03-01T09:30:00+08:00",
        state=HearingState.SCHEDULED,
        created_at=now,
        updated_at=now,
    )
    return replace(base, **changes)


def participant(hearing_id: str, **changes) -> Participant:
    base = Participant(
        id=new_participant_id(),
        hearing_id=hearing_id,
        name="李四",
        role=Role.PARTY,
        state=ParticipantState.LOBBY,
        admitted=False,
        revoked=False,
        created_at=utc_now(),
    )
    return replace(base, **changes)


@pytest.fixture
async def store(tmp_path):
    s = await SqliteStore.open(tmp_path / "cloudcourt.db")
    yield s
    await s.close()


async def test_hearings_round_trip_and_survive_reopen(tmp_path):
    path = tmp_path / "cloudcourt.db"
    store = await SqliteStore.open(path)
    h1 = hearing(public=True, scheduled_at="2025-03-02T09:00:00+08:00")
    h2 = hearing(scheduled_at="2025-03-01T09:00:00+08:00")
    await store.create_hearing(h1)
    await store.create_hearing(h2)
    p = participant(h1.id)
    await store.create_participant(p)
    await store.close()

    store = await SqliteStore.open(path)
    try:
        assert await store.get_hearing(h1.id) == h1
        assert [h.id for h in await store.list_hearings()] == [h2.id, h1.id]  # by schedule
        assert await store.get_participant(p.id) == p
        assert await store.list_participants(h1.id) == [p]
        assert await store.list_participants(h2.id) == []
        assert await store.get_hearing("h_missing") is None
        assert await store.get_participant("p_missing") is None
    finally:
        await store.close()


async def test_hearing_state_is_compare_and_set(store):
    h = hearing()
    await store.create_hearing(h)
    opened = await store.set_hearing_state(
        h.id, HearingState.OPEN, only_from=(HearingState.SCHEDULED,)
    )
    assert opened is not None and opened.state is HearingState.OPEN
    # a second "first arrival" does not move it again
    again = await store.set_hearing_state(
        h.id, HearingState.OPEN, only_from=(HearingState.SCHEDULED,)
    )
    assert again is None
    ended = await store.set_hearing_state(
        h.id, HearingState.ENDED, only_from=(HearingState.OPEN, HearingState.IN_SESSION)
    )
    assert ended is not None and ended.state is HearingState.ENDED
    assert (await store.get_hearing(h.id)).state is HearingState.ENDED
    assert (
        await store.set_hearing_state("h_missing", HearingState.OPEN, only_from=list(HearingState))
        is None
    )


async def test_participant_updates(store):
    h = hearing()
    await store.create_hearing(h)
    p = participant(h.id)
    await store.create_participant(p)
    admitted = await store.update_participant(p.id, state=ParticipantState.ADMITTED, admitted=True)
    assert (
        admitted.state is ParticipantState.ADMITTED and admitted.admitted and not admitted.revoked
    )
    removed = await store.update_participant(p.id, state=ParticipantState.REMOVED, revoked=True)
    assert removed.revoked and removed.admitted  # history kept
    assert await store.get_participant(p.id) == removed
    assert await store.update_participant("p_missing", revoked=True) is None


async def test_participants_need_an_existing_hearing(store):
    with pytest.raises(sqlite3.IntegrityError):
        await store.create_participant(participant("h_missing"))


async def test_schema_versioned_wal_and_private(tmp_path):
    path = tmp_path / "cloudcourt.db"
    store = await SqliteStore.open(path)
    await store.create_hearing(hearing())
    assert await store.schema_version() == SCHEMA_VERSION
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_database_from_a_newer_server_is_refused(tmp_path):
    path = tmp_path / "cloudcourt.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        await SqliteStore.open(path)


async def test_a_crashed_servers_database_is_accepted_with_its_log(tmp_path):
    """What a crash leaves (the database with an unmerged write-ahead log) is a good database,
    not a damaged one: the records in the log are there after the restart."""
    live = tmp_path / "live" / "cloudcourt.db"
    store = await SqliteStore.open(live)
    made = [hearing() for _ in range(3)]
    for h in made:
        await store.create_hearing(h)
    crashed = tmp_path / "crashed" / "cloudcourt.db"
    crashed.parent.mkdir()
    # copied while the store is open, as the files are when the process dies
    for suffix in ("", "-wal"):
        crashed.with_name(crashed.name + suffix).write_bytes(
            live.with_name(live.name + suffix).read_bytes()
        )
    await store.close()
    assert crashed.with_name("cloudcourt.db-wal").stat().st_size > 0
    await assert_accepted_with(crashed, made)


async def assert_accepted_with(path, made) -> None:
    """The start-up check accepts the database at ``path`` and it holds exactly ``made``."""
    assert prepare_database(path, init=False) is None
    reopened = await SqliteStore.open(path)
    try:
        assert {h.id for h in await reopened.list_hearings()} == {h.id for h in made}
    finally:
        await reopened.close()


async def test_a_missing_database_is_created_whole(tmp_path):
    path = tmp_path / "data" / "cloudcourt.db"
    assert prepare_database(path, init=False) is None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["cloudcourt.db"]


def wal_frames(wal: bytes, page_size: int) -> list[tuple[int, bytes]]:
    """(page number, page) of each frame of a write-ahead log, in the order written."""
    frames, offset = [], 32  # after the log's header
    while offset + 24 + page_size <= len(wal):
        number = int.from_bytes(wal[offset : offset + 4])
        frames.append((number, wal[offset + 24 : offset + 24 + page_size]))
        offset += 24 + page_size
    return frames


async def test_a_database_crashed_mid_checkpoint_is_accepted(tmp_path):
    """A checkpoint copies pages from the log in page order: page 1 (whose header counts the
    pages) is in the file before the file has grown to hold them. SQLite reads the rest from the
    log, so the database is whole, though its file is shorter than its header says."""
    live = tmp_path / "live" / "cloudcourt.db"
    store = await SqliteStore.open(live)
    made = [hearing(title="t" * 2000) for _ in range(20)]
    for h in made:
        await store.create_hearing(h)
    crashed = tmp_path / "crashed" / "cloudcourt.db"
    crashed.parent.mkdir()
    wal = live.with_name(live.name + "-wal").read_bytes()
    main = live.read_bytes()
    await store.close()
    page_size = int.from_bytes(main[16:18])
    first = [page for number, page in wal_frames(wal, page_size) if number == 1][-1]
    # the checkpoint got as far as page 1, then the process died
    crashed.write_bytes(first + main[page_size:])
    crashed.with_name(crashed.name + "-wal").write_bytes(wal)
    assert int.from_bytes(first[28:32]) * page_size > crashed.stat().st_size
    await assert_accepted_with(crashed, made)
