"""What the catalog keeps in the store: session start/end times and masked participants, and an
existing (schema 1) database upgrading to them without losing a record."""

from __future__ import annotations

import sqlite3

from signaling.models import HearingState, Participant, ParticipantState, utc_now
from signaling.roles import Role
from signaling.store import MIGRATIONS, SCHEMA_VERSION, SqliteStore


async def test_a_schema_1_database_upgrades_and_keeps_its_records(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    now = utc_now()
    for hid, state in (("h_old_ended", "ended"), ("h_old_open", "open")):
        db.execute(
            "INSERT INTO hearings VALUES (?, '(2024)旧1号', '旧案', '旧法院', 'civil', 1,"
            " '2024-01-02T01:00:00+00:00', ?, ?, ?)",
            (hid, state, now, now),
        )
    db.execute(
        "INSERT INTO participants VALUES"
        " ('p_old', 'h_old_open', '证人', 'witness', 'lobby', 0, 0, ?)",
        (now,),
    )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()

    store = await SqliteStore.open(path)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        ended = await store.get_hearing("h_old_ended")
        assert ended.ended_at == now and ended.started_at is None  # its end was known
        still = await store.get_hearing("h_old_open")
        assert still.ended_at is None and still.title == "旧案"
        old = await store.get_participant("p_old")
        assert old is not None and old.masked is False and old.name == "证人"

        # The session's start is kept once; the end when it ends.
        started = await store.set_hearing_state(
            "h_old_open", HearingState.IN_SESSION, only_from=(HearingState.OPEN,)
        )
        assert started.started_at and started.ended_at is None
        finished = await store.set_hearing_state(
            "h_old_open", HearingState.ENDED, only_from=(HearingState.IN_SESSION,)
        )
        assert finished.started_at == started.started_at and finished.ended_at

        masked = await store.update_participant("p_old", masked=True)
        assert masked.masked is True
        await store.create_participant(
            Participant(
                "p_new",
                "h_old_open",
                "未成年人",
                Role.PARTY,
                ParticipantState.LOBBY,
                False,
                False,
                now,
                masked=True,
            )
        )
        assert (await store.get_participant("p_new")).masked is True
    finally:
        await store.close()
