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
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from signaling.migrations import MIGRATIONS, SCHEMA_VERSION
from signaling.models import (
    Hearing,
    HearingKind,
    HearingState,
    Participant,
    ParticipantState,
    utc_now,
)
from signaling.roles import Role

T = TypeVar("T")


class StoreError(RuntimeError):
    """The store cannot be used (e.g. a database written by a newer server)."""


class DatabaseRefused(StoreError):
    """The file where the database belongs is not a usable Cloud Court database. ``damaged``:
    it is no database of ours at all (empty, truncated, another program's); such a file may be
    set aside for a new database (``--init``), while a newer server's records may not."""

    def __init__(self, message: str, *, damaged: bool) -> None:
        super().__init__(message)
        self.damaged = damaged


class Store(Protocol):
    async def create_hearing(self, hearing: Hearing) -> None: ...

    async def get_hearing(self, hearing_id: str) -> Hearing | None: ...

    async def list_hearings(self) -> list[Hearing]: ...

    async def hearings_of_dispute(self, dispute_id: str) -> list[Hearing]:
        """The sessions and hearings held for one dispute, oldest first."""
        ...

    async def link_hearing(self, hearing_id: str, dispute_id: str) -> Hearing | None: ...

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


# PRAGMA application_id of databases this server creates ("CCRT"); older ones have 0.
APPLICATION_ID = 0x43435254
SQLITE_HEADER = b"SQLite format 3\x00"
_REMEDY = "restore it from a backup, or start with --init to set it aside for a new database"


def inspect_database(path: Path, *, check_pages: bool = True) -> None:
    """Refuse (``DatabaseRefused``) a file that is not a whole Cloud Court database, reading it
    only: a refused file must stay exactly as it was, for whoever investigates it.

    ``check_pages`` runs SQLite's quick_check, which reads every page: once per start is enough.
    """
    size = path.stat().st_size
    if size == 0:
        raise DatabaseRefused(f"{path} is empty (0 bytes); {_REMEDY}", damaged=True)
    with path.open("rb") as f:
        header = f.read(100)
    if not header.startswith(SQLITE_HEADER) and not SQLITE_HEADER.startswith(header):
        raise DatabaseRefused(
            f"{path} is not an SQLite database, so not a Cloud Court database; {_REMEDY}",
            damaged=True,
        )
    if len(header) < 100:
        raise DatabaseRefused(
            f"{path} is truncated ({size} bytes, less than an SQLite header); {_REMEDY}",
            damaged=True,
        )
    page_size = int.from_bytes(header[16:18])
    page_size = 65536 if page_size == 1 else page_size  # 1 stands for 65536
    pages = int.from_bytes(header[28:32])
    # The header's page count holds when its "valid for" counter matches the change counter, and
    # only without a write-ahead log: a checkpoint cut short by a crash leaves page 1 (counting
    # pages the log still holds) in a file not yet grown to hold them, which SQLite recovers.
    wal = path.with_name(path.name + "-wal").exists()
    if not wal and header[92:96] == header[24:28] and size < pages * page_size:
        raise DatabaseRefused(
            f"{path} is truncated ({size} bytes where its header says {pages * page_size}); "
            f"{_REMEDY}",
            damaged=True,
        )
    try:
        conn = _read_only(path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from None
    try:
        _inspect_schema(conn, path)
        if check_pages:
            _check_pages(conn, path)
    except sqlite3.DatabaseError as exc:
        raise DatabaseRefused(f"{path} is damaged ({exc}); {_REMEDY}", damaged=True) from None
    finally:
        conn.close()


def create_database(path: Path) -> bool:
    """Create a new Cloud Court database at ``path`` unless a file is there; whether it did.

    It is built beside ``path`` and linked into place whole: a crash part way never leaves an
    empty or half-made database, which the next start would (rightly) refuse.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.new-{os.getpid()}")
    _remove_with_journals(draft)
    # Case records are not for other users of the machine; SQLite gives its -wal and -shm
    # files the database file's mode.
    os.close(os.open(draft, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        conn = sqlite3.connect(draft, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            _migrate(conn)
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        try:
            os.link(draft, path)
        except FileExistsError:  # another server on this data dir was quicker
            return False
        except OSError:
            # A file system without hard links (FAT, some network shares): a rename, which
            # would replace a database another server made meanwhile, so only if there is none.
            if path.exists():
                return False
            os.replace(draft, path)
        return True
    finally:
        _remove_with_journals(draft)


def _remove_with_journals(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def prepare_database(path: Path, *, init: bool) -> str | None:
    """What ``cloudcourt serve`` does before it starts: create a missing database, and refuse
    (``DatabaseRefused``) one it cannot use. With ``init``, a file that is no database of ours is
    set aside (renamed, never changed or deleted) for a new database, and a database with records
    is refused. Returns a sentence for the operator when something was set aside."""
    if create_database(path):
        return None
    try:
        inspect_database(path)
    except DatabaseRefused as refusal:
        if not (init and refusal.damaged):
            raise
        kept = _set_aside(path)
        create_database(path)
        return f"{path} could not be used, so it was set aside unchanged as {kept}; started anew"
    if init:
        hearings, participants = _record_counts(path)
        raise DatabaseRefused(
            f"{path} already holds Cloud Court's records ({hearings} hearings, {participants} "
            "participants), which --init would destroy, so it did nothing: start without --init",
            damaged=False,
        )
    return None


def _set_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    os.rename(path, kept)
    # A write-ahead log belongs to its database file: it goes with it, not to the new one.
    for suffix in ("-wal", "-shm"):
        journal = path.with_name(path.name + suffix)
        if journal.exists():
            os.rename(journal, kept.with_name(kept.name + suffix))
    return kept


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing: no recovery or checkpoint into a file that may be refused.

    Without a write-ahead log beside it, the file is the whole database: opened as immutable, not
    even a -wal or -shm file appears. With one, the log is part of the database (say, after a
    crash) and is read through a plain read-only connection.
    """
    wal = path.with_name(path.name + "-wal").exists()
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?{'mode=ro' if wal else 'immutable=1'}", uri=True
    )


def _record_counts(path: Path) -> tuple[int, int]:
    conn = _read_only(path)
    try:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("hearings", "participants")
        )
    finally:
        conn.close()


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
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


def _inspect_schema(conn: sqlite3.Connection, path: Path) -> None:
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    ours = application_id in (0, APPLICATION_ID)
    if ours and version > SCHEMA_VERSION:
        raise DatabaseRefused(
            f"{path} has schema version {version}, newer than this server's "
            f"{SCHEMA_VERSION}; run a newer cloudcourt or restore a backup",
            damaged=False,
        )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not ours or version == 0 or not {"hearings", "participants"} <= tables:
        raise DatabaseRefused(
            f"{path} is an SQLite database but not a Cloud Court database "
            f"({len(tables)} tables, not Cloud Court's); {_REMEDY}",
            damaged=True,
        )


def _check_pages(conn: sqlite3.Connection, path: Path) -> None:
    problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
    if problems != ["ok"]:
        raise DatabaseRefused(
            f"{path} is damaged (SQLite's check: {'; '.join(problems)}); {_REMEDY}",
            damaged=True,
        )


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
        kind=HearingKind(row["kind"]),
        dispute_id=row["dispute_id"],
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
        hearing_kind=HearingKind(row["hearing_kind"]),
    )


# A participant is read with its hearing's kind (_participant), which decides its grants.
_PARTICIPANTS = (
    "SELECT p.*, h.kind AS hearing_kind FROM participants AS p"
    " JOIN hearings AS h ON h.id = p.hearing_id"
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

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on the store's thread: how the other records' stores (sites,
        disputes, signatures) share this one database, its thread and its transactions."""
        return await self._run(lambda: fn(self._db()))

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is closed")
        return self._conn

    def _open(self) -> None:
        create_database(self.path)
        # `cloudcourt serve` checked every page in prepare_database just before.
        inspect_database(self.path, check_pages=False)
        # isolation_level=None: we issue BEGIN ourselves where several statements must agree.
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode stays consistent after a crash and syncs only at checkpoints.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        _migrate(conn)

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
                " scheduled_at, state, created_at, updated_at, kind, dispute_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    hearing.kind.value,
                    hearing.dispute_id,
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

    async def hearings_of_dispute(self, dispute_id: str) -> list[Hearing]:
        def _list() -> list[Hearing]:
            rows = (
                self._db()
                .execute(
                    "SELECT * FROM hearings WHERE dispute_id = ? ORDER BY created_at, id",
                    (dispute_id,),
                )
                .fetchall()
            )
            return [_hearing(r) for r in rows]

        return await self._run(_list)

    async def link_hearing(self, hearing_id: str, dispute_id: str) -> Hearing | None:
        """Record that a court hearing is held for ``dispute_id``: only a court hearing (not a
        mediation) that has not ended and is held for no dispute yet, or already for this one
        (atomically). The linked hearing, or None if it is no such hearing."""

        def _link() -> Hearing | None:
            db = self._db()
            cur = db.execute(
                "UPDATE hearings SET dispute_id = ?, updated_at = ? WHERE id = ? AND kind = ?"
                " AND state != ? AND (dispute_id IS NULL OR dispute_id = ?)",
                (
                    dispute_id,
                    utc_now(),
                    hearing_id,
                    HearingKind.HEARING.value,
                    HearingState.ENDED.value,
                    dispute_id,
                ),
            )
            if cur.rowcount != 1:
                return None
            row = db.execute("SELECT * FROM hearings WHERE id = ?", (hearing_id,)).fetchone()
            return _hearing(row)

        return await self._run(_link)

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
                self._db().execute(f"{_PARTICIPANTS} WHERE p.id = ?", (participant_id,)).fetchone()
            )
            return _participant(row) if row else None

        return await self._run(_get)

    async def list_participants(self, hearing_id: str) -> list[Participant]:
        def _list() -> list[Participant]:
            rows = (
                self._db()
                .execute(
                    f"{_PARTICIPANTS} WHERE p.hearing_id = ? ORDER BY p.created_at, p.id",
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
            row = db.execute(f"{_PARTICIPANTS} WHERE p.id = ?", (participant_id,)).fetchone()
            return _participant(row) if row else None

        return await self._run(_update)
