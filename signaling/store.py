"""Durable records of hearings and participants.

``Store`` is the interface the services use; ``SqliteStore`` is the embedded default (one file in
the data directory). A Redis-backed store will implement the same protocol for multi-node setups.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, TypeVar

from signaling.models import Hearing, HearingState, Participant, ParticipantState, utc_now
from signaling.roles import Role

T = TypeVar("T")


class StoreError(RuntimeError):
    """The store cannot be used (e.g. a database written by a newer server)."""


class Store(Protocol):
    async def create_hearing(self, hearing: Hearing) -> None: ...

    async def get_hearing(self, hearing_id: str) -> Hearing | None: ...

    async def list_hearings(self) -> list[Hearing]: ...

    async def set_hearing_state(
        self, hearing_id: str, state: HearingState, *, only_from: Collection[HearingState]
    ) -> Hearing | None:
        """Move the hearing to ``state`` if it is in one of ``only_from`` (atomically).

        Returns the updated hearing, or None if it does not exist or was in another state.
        """
        ...

    async def create_participant(self, participant: Participant) -> None: ...

    async def get_participant(self, participant_id: str) -> Participant | None: ...

    async def list_participants(self, hearing_id: str) -> list[Participant]: ...

    async def update_participant(
        self,
        participant_id: str,
        *,
        state: ParticipantState | None = None,
        admitted: bool | None = None,
        revoked: bool | None = None,
        masked: bool | None = None,
    ) -> Participant | None: ...

    async def close(self) -> None: ...


# Each entry moves the schema one version up; the index + 1 is the version it produces.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE hearings (
        id           TEXT PRIMARY KEY,
        case_number  TEXT NOT NULL,
        title        TEXT NOT NULL,
        court        TEXT NOT NULL,
        case_type    TEXT NOT NULL,
        public       INTEGER NOT NULL,
        scheduled_at TEXT NOT NULL,
        state        TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );
    CREATE TABLE participants (
        id          TEXT PRIMARY KEY,
        hearing_id  TEXT NOT NULL REFERENCES hearings(id),
        name        TEXT NOT NULL,
        role        TEXT NOT NULL,
        state       TEXT NOT NULL,
        admitted    INTEGER NOT NULL,
        revoked     INTEGER NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX participants_by_hearing ON participants(hearing_id);
    """,
    # 2: when a session started and ended (the public catalog); masked participants.
    """
    ALTER TABLE hearings ADD COLUMN started_at TEXT;
    ALTER TABLE hearings ADD COLUMN ended_at TEXT;
    UPDATE hearings SET ended_at = updated_at WHERE state = 'ended';
    ALTER TABLE participants ADD COLUMN masked INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: the site a participant takes part from (shown in the judge's lobby list).
    """
    ALTER TABLE participants ADD COLUMN site TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _hearing(row: sqlite3.Row) -> Hearing:
    return Hearing(
        id=row["id"],
        case_number=row["case_number"],
        title=row["title"],
        court=row["court"],
        case_type=row["case_type"],
        public=bool(row["public"]),
        scheduled_at=row["scheduled_at"],
        state=HearingState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )


def _participant(row: sqlite3.Row) -> Participant:
    return Participant(
        id=row["id"],
        hearing_id=row["hearing_id"],
        name=row["name"],
        role=Role(row["role"]),
        state=ParticipantState(row["state"]),
        admitted=bool(row["admitted"]),
        revoked=bool(row["revoked"]),
        created_at=row["created_at"],
        masked=bool(row["masked"]),
        site=row["site"],
    )


class SqliteStore:
    """SQLite in WAL mode, used from one dedicated thread.

    The SFU forwards RTP on the same event loop, so even a short fsync must not run on it; one
    thread also means one connection and no locking of our own.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        store = cls(path)
        await store._run(store._open)
        return store

    # ------------------------------------------------------------------ plumbing
    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is closed")
        return self._conn

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Case records are not for other users of the machine; SQLite gives its -wal and -shm
        # files the database file's mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        # isolation_level=None: we issue BEGIN ourselves where several statements must agree.
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode stays consistent after a crash and syncs only at checkpoints.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            self._conn = None
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this server's "
                f"{SCHEMA_VERSION}; run a newer cloudcourt or restore a backup"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={target}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    async def schema_version(self) -> int:
        return await self._run(lambda: self._db().execute("PRAGMA user_version").fetchone()[0])

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(_close)
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------ hearings
    async def create_hearing(self, hearing: Hearing) -> None:
        def _insert() -> None:
            self._db().execute(
                "INSERT INTO hearings (id, case_number, title, court, case_type, public,"
                " scheduled_at, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    hearing.id,
                    hearing.case_number,
                    hearing.title,
                    hearing.court,
                    hearing.case_type,
                    int(hearing.public),
                    hearing.scheduled_at,
                    hearing.state.value,
                    hearing.created_at,
                    hearing.updated_at,
                ),
            )

        await self._run(_insert)

    async def get_hearing(self, hearing_id: str) -> Hearing | None:
        def _get() -> Hearing | None:
            row = (
                self._db().execute("SELECT * FROM hearings WHERE id = ?", (hearing_id,)).fetchone()
            )
            return _hearing(row) if row else None

        return await self._run(_get)

    async def list_hearings(self) -> list[Hearing]:
        def _list() -> list[Hearing]:
            rows = (
                self._db()
                .execute("SELECT * FROM hearings ORDER BY scheduled_at, created_at, id")
                .fetchall()
            )
            return [_hearing(r) for r in rows]

        return await self._run(_list)

    async def set_hearing_state(
        self, hearing_id: str, state: HearingState, *, only_from: Collection[HearingState]
    ) -> Hearing | None:
        allowed = [s.value for s in only_from]

        def _update() -> Hearing | None:
            db = self._db()
            marks = ", ".join("?" for _ in allowed)
            now = utc_now()
            # The first arrival in session and the end are kept for the public catalog.
            cur = db.execute(
                "UPDATE hearings SET state = ?, updated_at = ?,"
                " started_at = CASE WHEN ? = 'in_session' THEN COALESCE(started_at, ?)"
                " ELSE started_at END,"
                " ended_at = CASE WHEN ? = 'ended' THEN ? ELSE ended_at END"
                f" WHERE id = ? AND state IN ({marks})",
                (state.value, now, state.value, now, state.value, now, hearing_id, *allowed),
            )
            if cur.rowcount != 1:
                return None
            row = db.execute("SELECT * FROM hearings WHERE id = ?", (hearing_id,)).fetchone()
            return _hearing(row)

        return await self._run(_update)

    # ------------------------------------------------------------------ participants
    async def create_participant(self, participant: Participant) -> None:
        def _insert() -> None:
            self._db().execute(
                "INSERT INTO participants (id, hearing_id, name, role, state, admitted, revoked,"
                " created_at, masked, site) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    participant.id,
                    participant.hearing_id,
                    participant.name,
                    participant.role.value,
                    participant.state.value,
                    int(participant.admitted),
                    int(participant.revoked),
                    participant.created_at,
                    int(participant.masked),
                    participant.site,
                ),
            )

        await self._run(_insert)

    async def get_participant(self, participant_id: str) -> Participant | None:
        def _get() -> Participant | None:
            row = (
                self._db()
                .execute("SELECT * FROM participants WHERE id = ?", (participant_id,))
                .fetchone()
            )
            return _participant(row) if row else None

        return await self._run(_get)

    async def list_participants(self, hearing_id: str) -> list[Participant]:
        def _list() -> list[Participant]:
            rows = (
                self._db()
                .execute(
                    "SELECT * FROM participants WHERE hearing_id = ? ORDER BY created_at, id",
                    (hearing_id,),
                )
                .fetchall()
            )
            return [_participant(r) for r in rows]

        return await self._run(_list)

    async def update_participant(
        self,
        participant_id: str,
        *,
        state: ParticipantState | None = None,
        admitted: bool | None = None,
        revoked: bool | None = None,
        masked: bool | None = None,
    ) -> Participant | None:
        changes: dict[str, object] = {}
        if state is not None:
            changes["state"] = state.value
        if admitted is not None:
            changes["admitted"] = int(admitted)
        if revoked is not None:
            changes["revoked"] = int(revoked)
        if masked is not None:
            changes["masked"] = int(masked)

        def _update() -> Participant | None:
            db = self._db()
            if changes:
                # Column names come from the fixed keys above, never from input.
                sets = ", ".join(f"{column} = ?" for column in changes)
                db.execute(
                    f"UPDATE participants SET {sets} WHERE id = ?",
                    (*changes.values(), participant_id),
                )
            row = db.execute(
                "SELECT * FROM participants WHERE id = ?", (participant_id,)
            ).fetchone()
            return _participant(row) if row else None

        return await self._run(_update)
