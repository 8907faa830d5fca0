"""Judicial confirmation (司法确认) of an effective mediation agreement.

The parties apply jointly within 30 days of the agreement taking effect (民事诉讼法 Art. 205):
the site officer files the application on their behalf (attesting that they applied before
them), or each party applies with their signing link; every application is a chained entry on
the agreement, and the confirmation is ``pending`` once every party has applied. The liaison
judge of the dispute's site reviews it (a video session may be recorded by its hearing id) and
confirms the agreement or refuses with a ground (民诉法解释 Art. 358) and a reason
(民事诉讼法 Art. 206). The decision is a document of its own (a 民事裁定书), issued and decided
by the judge in one transaction: its text is chained like any other, and printable.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from signaling.agreements import SIDE_WORDS, confirmable_in, party_line, subject, template
from signaling.disputes import TYPE_LABELS, Dispute
from signaling.errors import bad_request, conflict
from signaling.models import utc_now
from signaling.signing import Actor, Attestation, Document, DocumentState, Entry, EntryType, Signer
from signaling.signing_store import (
    SigningStore,
    act_in,
    create_in,
    get_in,
    new_document,
    note_in,
    transaction,
)

KIND = "confirmation"
TITLE = "民事裁定书"
APPLICATION_DAYS = 30  # 民事诉讼法 Art. 205


class ConfirmationState(StrEnum):
    applying = "applying"  # some parties have applied, not yet all
    pending = "pending"  # every party applied: the judge's to review
    confirmed = "confirmed"
    refused = "refused"


class RefusalGround(StrEnum):
    """Why a court refuses to confirm (民诉法解释 Art. 358)."""

    violates_law = "violates_law"
    harms_others = "harms_others"
    public_order = "public_order"
    not_voluntary = "not_voluntary"
    unclear = "unclear"
    other = "other"


GROUND_WORDS = {
    RefusalGround.violates_law: "违反法律强制性规定",
    RefusalGround.harms_others: "损害国家利益、社会公共利益或者他人合法权益",
    RefusalGround.public_order: "违背公序良俗",
    RefusalGround.not_voluntary: "违反自愿原则",
    RefusalGround.unclear: "内容不明确",
    RefusalGround.other: "存在其他不能进行司法确认的情形",
}


@dataclass(frozen=True)
class Confirmation:
    id: str
    agreement_id: str
    dispute_id: str
    site_id: str
    state: ConfirmationState
    applicants: tuple[str, ...]
    applied_at: str
    hearing_id: str | None
    judge_id: str | None
    decision_id: str | None
    ground: RefusalGround | None
    reason: str | None
    decided_at: str | None
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agreement_id": self.agreement_id,
            "dispute_id": self.dispute_id,
            "site_id": self.site_id,
            "state": self.state.value,
            "applicants": list(self.applicants),
            "applied_at": self.applied_at,
            "hearing_id": self.hearing_id,
            "judge_id": self.judge_id,
            "decision_id": self.decision_id,
            "ground": self.ground.value if self.ground else None,
            "reason": self.reason,
            "decided_at": self.decided_at,
            "updated_at": self.updated_at,
        }


def _confirmation(row: sqlite3.Row) -> Confirmation:
    return Confirmation(
        id=row["id"],
        agreement_id=row["agreement_id"],
        dispute_id=row["dispute_id"],
        site_id=row["site_id"],
        state=ConfirmationState(row["state"]),
        applicants=tuple(json.loads(row["applicants"])),
        applied_at=row["applied_at"],
        hearing_id=row["hearing_id"],
        judge_id=row["judge_id"],
        decision_id=row["decision_id"],
        ground=RefusalGround(row["ground"]) if row["ground"] else None,
        reason=row["reason"],
        decided_at=row["decided_at"],
        updated_at=row["updated_at"],
    )


def _by_agreement(conn: sqlite3.Connection, agreement_id: str) -> Confirmation | None:
    row = conn.execute(
        "SELECT * FROM confirmations WHERE agreement_id = ?", (agreement_id,)
    ).fetchone()
    return _confirmation(row) if row is not None else None


def _by_id(conn: sqlite3.Connection, confirmation_id: str) -> Confirmation | None:
    row = conn.execute("SELECT * FROM confirmations WHERE id = ?", (confirmation_id,)).fetchone()
    return _confirmation(row) if row is not None else None


def application_deadline(effective_at: str) -> datetime:
    return datetime.fromisoformat(effective_at) + timedelta(days=APPLICATION_DAYS)


def _day(moment: str) -> str:
    """2026年12月1日 (China time), as a ruling is dated."""
    local = datetime.fromisoformat(moment).astimezone(UTC) + timedelta(hours=8)
    return f"{local.year}年{local.month}月{local.day}日"


def decision_text(
    *,
    confirmation: Confirmation,
    agreement: Document,
    dispute: Dispute,
    court: str,
    site_name: str,
    judge_name: str,
    confirm: bool,
    ground: RefusalGround | None,
    reason: str,
    hearing_id: str | None,
    now: str,
) -> str:
    if confirm:
        finding = (
            f"本院经审查认为，申请人达成的调解协议系各方真实意思表示，符合司法确认的条件。{reason}"
        )
        ruling = (
            "申请人达成的调解协议有效。当事人应当按照调解协议的约定自觉履行义务。"
            "一方当事人拒绝履行或者未全部履行的，对方当事人可以向人民法院申请执行。"
        )
    else:
        assert ground is not None
        finding = (
            f"本院经审查认为，该调解协议{GROUND_WORDS[ground]}，不符合司法确认的条件。"
            f"理由：{reason}"
        )
        ruling = (
            "驳回申请人的司法确认申请。当事人可以通过调解方式变更原调解协议或者达成新的调解协议，"
            "也可以向人民法院提起诉讼。"
        )
    return template("confirmation_decision.txt").substitute(
        court=court,
        number=confirmation.id,
        parties="\n".join(
            party_line(p).replace(SIDE_WORDS[p.side], "申请人", 1) for p in dispute.parties
        ),
        applied_at=_day(confirmation.applied_at),
        type=TYPE_LABELS[dispute.type],
        effective_at=_day(agreement.effective_at or agreement.updated_at),
        site=site_name,
        agreement_id=agreement.id,
        agreement_sha256=agreement.text_sha256,
        review=f"（视频审查，庭审编号 {hearing_id}）" if hearing_id else "",
        finding=finding,
        ruling=ruling,
        judge=judge_name,
        date=_day(now),
    )


class Confirmations:
    def __init__(self, signing: SigningStore) -> None:
        self.signing = signing

    async def get(self, confirmation_id: str) -> Confirmation | None:
        return await self.signing.run(lambda conn: _by_id(conn, confirmation_id))

    async def of_agreement(self, agreement_id: str) -> Confirmation | None:
        return await self.signing.run(lambda conn: _by_agreement(conn, agreement_id))

    async def listing(
        self, *, state: ConfirmationState | None, site_ids: set[str] | None
    ) -> list[Confirmation]:
        """Newest first; ``site_ids`` None: every site's."""

        def work(conn: sqlite3.Connection) -> list[Confirmation]:
            rows = conn.execute("SELECT * FROM confirmations ORDER BY applied_at DESC").fetchall()
            found = [_confirmation(r) for r in rows]
            return [
                c
                for c in found
                if (state is None or c.state is state)
                and (site_ids is None or c.site_id in site_ids)
            ]

        return await self.signing.run(work)

    async def apply(
        self,
        agreement_id: str,
        dispute: Dispute,
        parties: list[str],
        actor: Actor,
        attestation: Attestation | None,
        statement: str | None,
    ) -> tuple[Confirmation, Entry]:
        """Record that ``parties`` applied (a chained ``application`` entry on the agreement)."""
        known = {p.id for p in dispute.parties}
        if unknown := [p for p in parties if p not in known]:
            raise bad_request(f"not a party of dispute {dispute.id}: {', '.join(unknown)}")

        def work(conn: sqlite3.Connection) -> tuple[Confirmation, Entry]:
            def body() -> tuple[Confirmation, Entry]:
                confirmable_in(conn, dispute.id)
                agreement = get_in(conn, agreement_id)
                assert agreement is not None
                if agreement.state is not DocumentState.effective or not agreement.effective_at:
                    raise conflict(
                        f"agreement {agreement_id} is {agreement.state}: only an effective "
                        "agreement can be confirmed"
                    )
                if datetime.now(UTC) > application_deadline(agreement.effective_at):
                    raise conflict(
                        f"the {APPLICATION_DAYS} days to apply for judicial confirmation of "
                        f"agreement {agreement_id} ended on "
                        f"{application_deadline(agreement.effective_at).date()} "
                        "(民事诉讼法 Art. 205)"
                    )
                current = _by_agreement(conn, agreement_id)
                if current is not None and current.state not in (
                    ConfirmationState.applying,
                    ConfirmationState.pending,
                ):
                    raise conflict(f"confirmation {current.id} is already {current.state}")
                before = set(current.applicants) if current else set()
                if already := sorted(set(parties) & before):
                    raise conflict(f"already applied: {', '.join(already)}")
                confirmation_id = current.id if current else "jc_" + secrets.token_hex(8)
                entry = note_in(
                    conn,
                    agreement_id,
                    EntryType.application,
                    actor=actor,
                    fields={
                        # The confirmation's row is checked against these by `verify`.
                        "confirmation": confirmation_id,
                        "required": [p.id for p in dispute.parties],
                        "parties": parties,
                        "attestation": attestation.to_json() if attestation else None,
                        "statement": statement,
                    },
                )
                applicants = [p.id for p in dispute.parties if p.id in before | set(parties)]
                state = (
                    ConfirmationState.pending
                    if set(applicants) == known
                    else ConfirmationState.applying
                )
                now = entry.at
                if current is None:
                    conn.execute(
                        "INSERT INTO confirmations (id, agreement_id, dispute_id, site_id, state,"
                        " applicants, applied_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            confirmation_id,
                            agreement_id,
                            dispute.id,
                            dispute.intake_site_id,
                            state,
                            json.dumps(applicants),
                            now,
                            now,
                        ),
                    )
                else:
                    conn.execute(
                        "UPDATE confirmations SET state = ?, applicants = ?, applied_at = ?,"
                        " updated_at = ? WHERE id = ?",
                        (state, json.dumps(applicants), now, now, confirmation_id),
                    )
                found = _by_id(conn, confirmation_id)
                assert found is not None
                return found, entry

            return transaction(conn, body)

        return await self.signing.run(work)

    async def review(self, confirmation_id: str, hearing_id: str) -> Confirmation:
        def work(conn: sqlite3.Connection) -> Confirmation:
            def body() -> Confirmation:
                current = _by_id(conn, confirmation_id)
                assert current is not None
                if current.state is not ConfirmationState.pending:
                    raise conflict(
                        f"confirmation {confirmation_id} is {current.state}, not pending"
                    )
                conn.execute(
                    "UPDATE confirmations SET hearing_id = ?, updated_at = ? WHERE id = ?",
                    (hearing_id, utc_now(), confirmation_id),
                )
                found = _by_id(conn, confirmation_id)
                assert found is not None
                return found

            return transaction(conn, body)

        return await self.signing.run(work)

    async def decide(
        self,
        confirmation_id: str,
        *,
        dispute: Dispute,
        judge: Signer,
        actor: Actor,
        court: str,
        site_name: str,
        confirm: bool,
        ground: RefusalGround | None,
        reason: str,
        hearing_id: str | None,
    ) -> tuple[Confirmation, Document, Entry]:
        """Issue the ruling and the judge's decision on it, and close the confirmation, in one
        transaction: there is never a ruling without its decision entry, nor two rulings."""

        def work(conn: sqlite3.Connection) -> tuple[Confirmation, Document, Entry]:
            def body() -> tuple[Confirmation, Document, Entry]:
                current = _by_id(conn, confirmation_id)
                assert current is not None
                confirmable_in(conn, current.dispute_id)
                if current.state is not ConfirmationState.pending:
                    raise conflict(
                        f"confirmation {confirmation_id} is {current.state}: the judge decides a "
                        "pending application (every party applied), once"
                    )
                agreement = get_in(conn, current.agreement_id)
                assert agreement is not None
                session = hearing_id or current.hearing_id
                now = utc_now()
                text = decision_text(
                    confirmation=current,
                    agreement=agreement,
                    dispute=dispute,
                    court=court,
                    site_name=site_name,
                    judge_name=judge.name,
                    confirm=confirm,
                    ground=ground,
                    reason=reason,
                    hearing_id=session,
                    now=now,
                )
                ruling = new_document(
                    kind=KIND,
                    subject=subject(dispute.id),
                    title=TITLE,
                    text=text,
                    signers=(judge,),
                    actor=actor,
                    prefix="jd_",
                )
                create_in(
                    conn,
                    ruling,
                    actor,
                    {"confirmation": confirmation_id, "agreement": agreement.id},
                )
                decision = "confirm" if confirm else "refuse"
                entry, ruling = act_in(
                    conn,
                    ruling.id,
                    judge.key,
                    EntryType.decision,
                    text_hash=ruling.text_sha256,
                    actor=actor,
                    reason=reason,
                    detail={
                        "decision": decision,
                        "ground": ground.value if ground else None,
                        "confirmation": confirmation_id,
                        "agreement": agreement.id,
                        "agreement_sha256": agreement.text_sha256,
                        "hearing_id": session,
                    },
                )
                state = ConfirmationState.confirmed if confirm else ConfirmationState.refused
                conn.execute(
                    "UPDATE confirmations SET state = ?, judge_id = ?, decision_id = ?,"
                    " ground = ?, reason = ?, decided_at = ?, hearing_id = ?, updated_at = ?"
                    " WHERE id = ?",
                    (
                        state,
                        judge.ref,
                        ruling.id,
                        ground.value if ground else None,
                        reason,
                        entry.at,
                        session,
                        entry.at,
                        confirmation_id,
                    ),
                )
                found = _by_id(conn, confirmation_id)
                assert found is not None
                return found, ruling, entry

            return transaction(conn, body)

        return await self.signing.run(work)
