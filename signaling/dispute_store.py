"""Disputes, parties, events, evidence records and ladder versions in the server's database
(schema step 5, signaling/migrations/disputes.py), through ``SqliteStore.run``: the one
connection, on the store's one thread.

A state change and its event are one transaction, and the change is conditional on the state
the caller read (``WHERE state = ?``): two officers pressing at once give one move and one 409,
never two events for one change.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from signaling.disputes import (
    Dispute,
    DisputeEvent,
    DisputeParty,
    DisputeState,
    DisputeType,
    Evidence,
    Handler,
    HandlerLevel,
    MediatorStatus,
    Side,
    dispute_number,
    year_of,
)
from signaling.errors import conflict, not_found
from signaling.ladder import Ladder, LadderVersion, default_ladder
from signaling.models import utc_now
from signaling.store import SqliteStore

T = TypeVar("T")

# The columns a move or a note may change besides the state (never the id or the parties).
_CHANGEABLE = frozenset(
    {
        "handler_level",
        "handler_site_id",
        "judge_id",
        "mediator_id",
        "mediator_status",
        "mediator_appointed_at",
        "mediator_answered_at",
        "mediation_ended_at",
    }
)


def _party(row: sqlite3.Row) -> DisputeParty:
    return DisputeParty(
        id=row["id"],
        side=Side(row["side"]),
        name=row["name"],
        id_number=row["id_number"],
        phone=row["phone"],
        address=row["address"],
        village=row["village"],
        township=row["township"],
        consents=json.loads(row["consents"]),
    )


def _dispute(row: sqlite3.Row, parties: tuple[DisputeParty, ...]) -> Dispute:
    return Dispute(
        id=row["id"],
        number=row["number"],
        intake_site_id=row["intake_site_id"],
        type=DisputeType(row["type"]),
        summary=row["summary"],
        state=DisputeState(row["state"]),
        handler=Handler(HandlerLevel(row["handler_level"]), row["handler_site_id"]),
        mediator_id=row["mediator_id"],
        judge_id=row["judge_id"],
        parties=parties,
        received_at=row["received_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        mediator_status=MediatorStatus(row["mediator_status"]) if row["mediator_status"] else None,
        mediator_appointed_at=row["mediator_appointed_at"],
        mediator_answered_at=row["mediator_answered_at"],
        ladder_version=row["ladder_version"],
        rule_id=row["rule_id"],
        on_failure=row["on_failure"],
        intake_by=row["intake_by"],
        mediation_ended_at=row["mediation_ended_at"],
    )


def _event(row: sqlite3.Row) -> DisputeEvent:
    return DisputeEvent(
        seq=row["seq"],
        at=row["at"],
        actor=row["actor"],
        from_state=DisputeState(row["from_state"]) if row["from_state"] else None,
        to_state=DisputeState(row["to_state"]),
        reason=row["reason"],
        detail=json.loads(row["detail"]),
    )


def _evidence(row: sqlite3.Row) -> Evidence:
    return Evidence(
        id=row["id"],
        dispute_id=row["dispute_id"],
        filename=row["filename"],
        media_type=row["media_type"],
        size=row["size"],
        sha256=row["sha256"],
        uploaded_by=row["uploaded_by"],
        uploaded_at=row["uploaded_at"],
    )


def _ladder_version(row: sqlite3.Row) -> LadderVersion:
    return LadderVersion(
        version=row["version"],
        ladder=Ladder.model_validate_json(row["rules"]),
        changed_by=row["changed_by"],
        changed_at=row["changed_at"],
        note=row["note"],
    )


def _read(conn: sqlite3.Connection, dispute_id: str) -> Dispute | None:
    row = conn.execute("SELECT * FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
    if row is None:
        return None
    parties = conn.execute(
        "SELECT * FROM dispute_parties WHERE dispute_id = ? ORDER BY position", (dispute_id,)
    ).fetchall()
    return _dispute(row, tuple(_party(p) for p in parties))


def _log(
    conn: sqlite3.Connection,
    dispute_id: str,
    at: str,
    actor: str,
    from_state: DisputeState | None,
    to_state: DisputeState,
    reason: str | None,
    detail: dict[str, Any],
) -> None:
    seq = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM dispute_events WHERE dispute_id = ?",
        (dispute_id,),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO dispute_events (dispute_id, seq, at, actor, from_state, to_state, reason,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            dispute_id,
            seq,
            at,
            actor,
            from_state.value if from_state else None,
            to_state.value,
            reason,
            json.dumps(detail, ensure_ascii=False, sort_keys=True),
        ),
    )


def _transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class DisputeStore:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    # ------------------------------------------------------------ disputes
    async def create(
        self,
        dispute: Dispute,
        actor: str,
        number_prefix: str,
        routing_reason: str,
        routing_detail: dict[str, Any],
    ) -> Dispute:
        """Insert the dispute (already routed: its state is its first rung's), its parties and
        its first two events (taken in; routed), numbering it within its year of receipt."""
        year = year_of(dispute.received_at)

        def work(conn: sqlite3.Connection) -> Dispute:
            def insert() -> Dispute:
                n = conn.execute(
                    "SELECT COUNT(*) + 1 FROM disputes WHERE year = ?", (year,)
                ).fetchone()[0]
                number = dispute_number(number_prefix, year, n)
                conn.execute(
                    "INSERT INTO disputes (id, number, year, intake_site_id, type, summary,"
                    " state, handler_level, handler_site_id, mediator_id, mediator_status,"
                    " mediator_appointed_at, mediator_answered_at, judge_id, ladder_version,"
                    " rule_id, on_failure, intake_by, received_at, mediation_ended_at,"
                    " created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        dispute.id,
                        number,
                        year,
                        dispute.intake_site_id,
                        dispute.type.value,
                        dispute.summary,
                        dispute.state.value,
                        dispute.handler.level.value,
                        dispute.handler.site_id,
                        dispute.mediator_id,
                        dispute.mediator_status.value if dispute.mediator_status else None,
                        dispute.mediator_appointed_at,
                        dispute.mediator_answered_at,
                        dispute.judge_id,
                        dispute.ladder_version,
                        dispute.rule_id,
                        dispute.on_failure,
                        dispute.intake_by,
                        dispute.received_at,
                        dispute.mediation_ended_at,
                        dispute.created_at,
                        dispute.updated_at,
                    ),
                )
                for position, party in enumerate(dispute.parties):
                    conn.execute(
                        "INSERT INTO dispute_parties (id, dispute_id, position, side, name,"
                        " id_number, phone, address, village, township, consents)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            party.id,
                            dispute.id,
                            position,
                            party.side.value,
                            party.name,
                            party.id_number,
                            party.phone,
                            party.address,
                            party.village,
                            party.township,
                            json.dumps(party.consents, sort_keys=True),
                        ),
                    )
                _log(
                    conn,
                    dispute.id,
                    dispute.created_at,
                    actor,
                    None,
                    DisputeState.INTAKE,
                    None,
                    {"received_at": dispute.received_at, "intake_site_id": dispute.intake_site_id},
                )
                _log(
                    conn,
                    dispute.id,
                    dispute.created_at,
                    actor,
                    DisputeState.INTAKE,
                    dispute.state,
                    routing_reason,
                    routing_detail,
                )
                found = _read(conn, dispute.id)
                assert found is not None
                return found

            return _transaction(conn, insert)

        return await self.store.run(work)

    async def get(self, dispute_id: str) -> Dispute | None:
        return await self.store.run(lambda conn: _read(conn, dispute_id))

    async def listing(
        self,
        *,
        state: DisputeState | None = None,
        site_id: str | None = None,
        site_ids: Collection[str] | None = None,
        judge_id: str | None = None,
        mediator_id: str | None = None,
    ) -> list[Dispute]:
        """Newest first. ``site_ids`` (with ``judge_id``): only disputes taken in at or handled
        by one of those sites (or guided by that judge); ``mediator_id``: only those they are
        appointed to (appointed or accepted)."""
        where: list[str] = []
        args: list[Any] = []
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        if site_id is not None:
            where.append("(intake_site_id = ? OR handler_site_id = ?)")
            args += [site_id, site_id]
        if mediator_id is not None:
            # Theirs while the appointment stands: not once they declined it.
            where.append("mediator_id = ? AND mediator_status IN ('appointed', 'accepted')")
            args.append(mediator_id)
        if site_ids is not None:
            ids = sorted(site_ids)
            marks = ", ".join("?" for _ in ids)
            scope = [f"intake_site_id IN ({marks})", f"handler_site_id IN ({marks})"] if ids else []
            scope_args: list[Any] = [*ids, *ids]
            if judge_id is not None:
                scope.append("judge_id = ?")
                scope_args.append(judge_id)
            if not scope:
                return []
            where.append("(" + " OR ".join(scope) + ")")
            args += scope_args

        condition = (" WHERE " + " AND ".join(where)) if where else ""
        # Two queries, not one per dispute: the rows, then all their parties.
        rows_sql = f"SELECT * FROM disputes{condition} ORDER BY received_at DESC, rowid DESC"
        parties_sql = (
            "SELECT * FROM dispute_parties WHERE dispute_id IN"
            f" (SELECT id FROM disputes{condition}) ORDER BY dispute_id, position"
        )

        def work(conn: sqlite3.Connection) -> list[Dispute]:
            conn.execute("BEGIN")  # one snapshot for both reads
            try:
                rows = conn.execute(rows_sql, args).fetchall()
                parties: dict[str, list[DisputeParty]] = {}
                for p in conn.execute(parties_sql, args).fetchall():
                    parties.setdefault(p["dispute_id"], []).append(_party(p))
            finally:
                conn.execute("COMMIT")
            return [_dispute(r, tuple(parties.get(r["id"], ()))) for r in rows]

        return await self.store.run(work)

    async def move(
        self,
        dispute_id: str,
        from_state: DisputeState,
        to_state: DisputeState,
        actor: str,
        reason: str | None,
        detail: dict[str, Any],
        changes: dict[str, Any],
    ) -> Dispute:
        """``from_state`` → ``to_state`` with ``changes``, and its event; 409 if the dispute
        is no longer in ``from_state`` (someone else moved it meanwhile)."""
        unknown = set(changes) - _CHANGEABLE
        assert not unknown, unknown

        def work(conn: sqlite3.Connection) -> Dispute:
            def update() -> Dispute:
                now = utc_now()
                sets = "".join(f", {column} = ?" for column in changes)
                cur = conn.execute(
                    f"UPDATE disputes SET state = ?, updated_at = ?{sets}"
                    " WHERE id = ? AND state = ?",
                    (to_state.value, now, *changes.values(), dispute_id, from_state.value),
                )
                if cur.rowcount != 1:
                    raise conflict(
                        f"dispute {dispute_id} is no longer {from_state.value}: someone moved "
                        "it meanwhile; read it again"
                    )
                _log(conn, dispute_id, now, actor, from_state, to_state, reason, detail)
                found = _read(conn, dispute_id)
                assert found is not None
                return found

            return _transaction(conn, update)

        return await self.store.run(work)

    async def note(
        self,
        dispute: Dispute,
        actor: str,
        reason: str | None,
        detail: dict[str, Any],
        changes: dict[str, Any],
    ) -> Dispute:
        """A logged change that leaves the state as it is (a mediator appointed, accepting):
        conditional on the state and mediator status read, as a move is."""
        unknown = set(changes) - _CHANGEABLE
        assert not unknown, unknown
        status = dispute.mediator_status.value if dispute.mediator_status else None

        def work(conn: sqlite3.Connection) -> Dispute:
            def update() -> Dispute:
                now = utc_now()
                sets = "".join(f", {column} = ?" for column in changes)
                cur = conn.execute(
                    f"UPDATE disputes SET updated_at = ?{sets}"
                    " WHERE id = ? AND state = ? AND mediator_status IS ?",
                    (now, *changes.values(), dispute.id, dispute.state.value, status),
                )
                if cur.rowcount != 1:
                    raise conflict(
                        f"dispute {dispute.id} changed meanwhile (someone else acted on it); "
                        "read it again"
                    )
                _log(conn, dispute.id, now, actor, dispute.state, dispute.state, reason, detail)
                found = _read(conn, dispute.id)
                assert found is not None
                return found

            return _transaction(conn, update)

        return await self.store.run(work)

    async def remark(
        self, dispute_id: str, actor: str, reason: str, detail: dict[str, Any]
    ) -> DisputeEvent:
        """An event and nothing else (``from_state == to_state``, the state as it is when
        written): something that happened to the dispute without moving it, such as a refused
        agreement. Unconditional, unlike ``note``: a fact is recorded whatever changed
        meanwhile. 404 if there is no such dispute."""

        def work(conn: sqlite3.Connection) -> DisputeEvent:
            def add() -> DisputeEvent:
                row = conn.execute(
                    "SELECT state FROM disputes WHERE id = ?", (dispute_id,)
                ).fetchone()
                if row is None:
                    raise not_found(f"no dispute {dispute_id}")
                state = DisputeState(row["state"])
                now = utc_now()
                conn.execute("UPDATE disputes SET updated_at = ? WHERE id = ?", (now, dispute_id))
                _log(conn, dispute_id, now, actor, state, state, reason, detail)
                last = conn.execute(
                    "SELECT * FROM dispute_events WHERE dispute_id = ? ORDER BY seq DESC LIMIT 1",
                    (dispute_id,),
                ).fetchone()
                return _event(last)

            return _transaction(conn, add)

        return await self.store.run(work)

    async def events(self, dispute_id: str) -> list[DisputeEvent]:
        def work(conn: sqlite3.Connection) -> list[DisputeEvent]:
            rows = conn.execute(
                "SELECT * FROM dispute_events WHERE dispute_id = ? ORDER BY seq", (dispute_id,)
            ).fetchall()
            return [_event(r) for r in rows]

        return await self.store.run(work)

    # ------------------------------------------------------------ evidence
    async def add_evidence(self, item: Evidence) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO evidence (id, dispute_id, filename, media_type, size, sha256,"
                " uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.id,
                    item.dispute_id,
                    item.filename,
                    item.media_type,
                    item.size,
                    item.sha256,
                    item.uploaded_by,
                    item.uploaded_at,
                ),
            )

        await self.store.run(work)

    async def evidence(self, dispute_id: str) -> list[Evidence]:
        def work(conn: sqlite3.Connection) -> list[Evidence]:
            rows = conn.execute(
                "SELECT * FROM evidence WHERE dispute_id = ? ORDER BY uploaded_at, rowid",
                (dispute_id,),
            ).fetchall()
            return [_evidence(r) for r in rows]

        return await self.store.run(work)

    # ------------------------------------------------------------ the ladder
    async def current_ladder(self) -> LadderVersion:
        """The newest version; the shipped default becomes version 1 on first use."""

        def work(conn: sqlite3.Connection) -> LadderVersion:
            row = conn.execute(
                "SELECT * FROM ladder_versions ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                return _ladder_version(row)
            conn.execute(
                "INSERT OR IGNORE INTO ladder_versions (version, rules, changed_by, changed_at,"
                " note) VALUES (1, ?, 'default', ?, ?)",
                (
                    default_ladder().model_dump_json(),
                    utc_now(),
                    "the shipped default (signaling/ladder_default.json)",
                ),
            )
            row = conn.execute("SELECT * FROM ladder_versions WHERE version = 1").fetchone()
            return _ladder_version(row)

        return await self.store.run(work)

    async def add_ladder(self, ladder: Ladder, changed_by: str, note: str | None) -> LadderVersion:
        await self.current_ladder()  # the default is version 1, so an edit is 2 and on

        def work(conn: sqlite3.Connection) -> LadderVersion:
            def insert() -> LadderVersion:
                version = conn.execute(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM ladder_versions"
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO ladder_versions (version, rules, changed_by, changed_at, note)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (version, ladder.model_dump_json(), changed_by, utc_now(), note),
                )
                row = conn.execute(
                    "SELECT * FROM ladder_versions WHERE version = ?", (version,)
                ).fetchone()
                return _ladder_version(row)

            return _transaction(conn, insert)

        return await self.store.run(work)

    async def ladder_versions(self) -> list[LadderVersion]:
        await self.current_ladder()

        def work(conn: sqlite3.Connection) -> list[LadderVersion]:
            rows = conn.execute("SELECT * FROM ladder_versions ORDER BY version").fetchall()
            return [_ladder_version(r) for r in rows]

        return await self.store.run(work)
