"""Mediation agreements (调解协议书): a signed document made from a template and the dispute's
facts, signed by every party and the mediator.

The text is the template (signaling/agreement_templates/mediation_agreement.txt) filled with
the dispute's number, type, summary and parties, the site, the mediator and the terms the
mediator writes. ID numbers and phone numbers are printed masked (110101********1234,
138****5678): the text is shown on screens and printed, and the party is identified by the
dispute's record (the ID checked at intake, carried whole only by the filing export), which the
agreement names by the dispute's number and the party's id in the chain.

The agreement is effective at the last required signature (SPC online mediation rules 2021,
Art. 19): the dispute then moves to ``mediated``. A refusal fails that version; the mediator
may draft a new one, which also withdraws a version still open (a chained withdrawal).
"""

from __future__ import annotations

import json
import sqlite3
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from signaling.accounts import Account, AccountRole
from signaling.disputes import (
    MEDIATING,
    TYPE_LABELS,
    Dispute,
    DisputeParty,
    DisputeState,
    Side,
    mask_id_number,
    mask_phone,
)
from signaling.errors import conflict
from signaling.signing import Actor, Document, DocumentState, EntryType, Signer, unsignable
from signaling.signing_store import (
    SigningStore,
    create_in,
    get_in,
    new_document,
    note_in,
    transaction,
)
from signaling.sites import Site

TEMPLATE_DIR = Path(__file__).parent / "agreement_templates"
KIND = "agreement"
TITLE = "调解协议书"
SIDE_WORDS = {Side.APPLICANT: "申请人", Side.RESPONDENT: "被申请人"}
CHINESE_NUMBERS = "一二三四五六七八九十"


@cache
def template(name: str) -> string.Template:
    return string.Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


def subject(dispute_id: str) -> str:
    """The documents of a dispute carry it as their subject: ``dispute:<id>``."""
    return f"dispute:{dispute_id}"


def dispute_id_of(document: Document) -> str | None:
    kind, _, ref = document.subject.partition(":")
    return ref if kind == "dispute" and ref else None


def party_line(party: DisputeParty) -> str:
    return (
        f"{SIDE_WORDS[party.side]}：{party.name}，公民身份号码 {mask_id_number(party.id_number)}，"
        f"联系电话 {mask_phone(party.phone)}，送达地址：{party.address}"
    )


def _numbered(terms: list[str]) -> str:
    def number(i: int) -> str:
        if i <= 10:
            return CHINESE_NUMBERS[i - 1]
        tens, ones = divmod(i, 10)
        high = CHINESE_NUMBERS[tens - 1] if tens > 1 else ""
        low = CHINESE_NUMBERS[ones - 1] if ones else ""
        return f"{high}十{low}"

    return "\n".join(f"{number(i)}、{term}" for i, term in enumerate(terms, 1))


def agreement_text(
    dispute: Dispute,
    site_name: str,
    mediator_name: str,
    terms: list[str],
    performance: str | None,
    version: int,
) -> str:
    return template("mediation_agreement.txt").substitute(
        number=dispute.number or dispute.id,
        version=version,
        parties="\n".join(party_line(p) for p in dispute.parties),
        type=TYPE_LABELS[dispute.type],
        site=site_name,
        summary=dispute.summary,
        terms=_numbered(terms),
        performance=performance or "按上述各条约定的方式和期限履行。",
        mediator=mediator_name,
    )


def signers_of(dispute: Dispute, mediator: Account) -> tuple[Signer, ...]:
    """Every party (at the intake site, whose officer attests an in-person signature), then the
    mediator (a judge who guides the mediation signs as such)."""
    role = "指导调解法官" if mediator.role is AccountRole.JUDGE else "调解员"
    return (
        *(
            Signer("party", p.id, p.name, SIDE_WORDS[p.side], dispute.intake_site_id)
            for p in dispute.parties
        ),
        Signer("account", mediator.id, mediator.name, role),
    )


@dataclass(frozen=True)
class Agreement:
    document: Document
    dispute_id: str
    version: int
    mediator_id: str
    terms: tuple[str, ...]


def _agreement(conn: sqlite3.Connection, row: sqlite3.Row) -> Agreement:
    document = get_in(conn, row["document_id"])
    assert document is not None
    return Agreement(
        document,
        row["dispute_id"],
        row["version"],
        row["mediator_id"],
        tuple(json.loads(row["terms"])),
    )


def dispute_state_in(conn: sqlite3.Connection, dispute_id: str) -> str | None:
    """The dispute's state, read inside the caller's transaction (the disputes table shares
    the database): so an act checked against it is written while it still holds."""
    row = conn.execute("SELECT state FROM disputes WHERE id = ?", (dispute_id,)).fetchone()
    return str(row[0]) if row is not None else None


_SYSTEM = Actor("system", None, "系统 system")


def mediation_gate(conn: sqlite3.Connection, document: Document) -> str | None:
    """An agreement is signed or refused only while its dispute is being mediated
    (site_mediation, judge_mediation). One whose dispute left mediation (failed, filed …) is
    withdrawn, with a chained entry, the first time anyone acts on or reads it; the reason to
    refuse the act is returned (None: go ahead). Other documents pass."""
    dispute_id = dispute_id_of(document)
    if document.kind != KIND or dispute_id is None:
        return None
    state = dispute_state_in(conn, dispute_id)
    if state in {s.value for s in MEDIATING}:
        return None
    if document.state is DocumentState.open:
        note_in(
            conn,
            document.id,
            EntryType.withdrawal,
            actor=_SYSTEM,
            fields={
                "reason": f"纠纷已退出调解（{state}），协议撤回 "
                f"the dispute left mediation ({state})",
                "detail": {"dispute_state": state},
            },
            withdraw=True,
        )
    return (
        f"dispute {dispute_id} is {state}: an agreement is signed only while its dispute is "
        f"being mediated; agreement {document.id} is withdrawn"
    )


def confirmable_in(conn: sqlite3.Connection, dispute_id: str) -> None:
    """409 unless the dispute is ``mediated``: only then are an application and a decision on
    its agreement possible (a dispute failed and filed has no agreement to confirm)."""
    state = dispute_state_in(conn, dispute_id)
    if state != DisputeState.MEDIATED.value:
        raise conflict(
            f"dispute {dispute_id} is {state}: judicial confirmation is applied for and decided "
            "while the dispute is mediated"
        )


class Agreements:
    def __init__(self, signing: SigningStore) -> None:
        self.signing = signing

    async def draft(
        self,
        dispute: Dispute,
        site: Site | None,
        mediator: Account,
        terms: list[str],
        performance: str | None,
        actor: Actor,
    ) -> Agreement:
        """A new version of the dispute's agreement; an open earlier version is withdrawn in
        the same transaction (a chained withdrawal entry names the new one)."""
        site_name = site.name if site is not None else dispute.intake_site_id

        def work(conn: sqlite3.Connection) -> Agreement:
            def body() -> Agreement:
                state = dispute_state_in(conn, dispute.id)
                if state not in {s.value for s in MEDIATING}:
                    raise conflict(
                        f"dispute {dispute.id} is {state}: an agreement is drafted while it is "
                        "being mediated"
                    )
                rows = conn.execute(
                    "SELECT a.document_id, a.version, d.state FROM agreements a"
                    " JOIN signed_documents d ON d.id = a.document_id WHERE a.dispute_id = ?"
                    " ORDER BY a.version",
                    (dispute.id,),
                ).fetchall()
                if any(r["state"] == DocumentState.effective for r in rows):
                    raise conflict(f"dispute {dispute.id} already has an effective agreement")
                version = (rows[-1]["version"] if rows else 0) + 1
                text = agreement_text(
                    dispute, site_name, mediator.name, terms, performance, version
                )
                if (problem := unsignable(text)) is not None:
                    # From the dispute's record (names, addresses, summary): fix it there.
                    raise conflict(f"the agreement's text {problem}; correct the dispute's record")
                document = new_document(
                    kind=KIND,
                    subject=subject(dispute.id),
                    title=TITLE,
                    text=text,
                    signers=signers_of(dispute, mediator),
                    actor=actor,
                    prefix="ag_",
                )
                for row in rows:
                    if row["state"] == DocumentState.open:
                        note_in(
                            conn,
                            row["document_id"],
                            EntryType.withdrawal,
                            actor=actor,
                            fields={
                                "reason": f"由第{version}版取代 superseded by version {version}",
                                "detail": {"superseded_by": document.id},
                            },
                            withdraw=True,
                        )
                # The agreements row is checked against this by `cloudcourt verify`.
                create_in(
                    conn,
                    document,
                    actor,
                    {
                        "dispute": dispute.id,
                        "number": dispute.number,
                        "version": version,
                        "mediator": mediator.id,
                        "terms": terms,
                    },
                )
                conn.execute(
                    "INSERT INTO agreements (document_id, dispute_id, version, mediator_id, terms)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        document.id,
                        dispute.id,
                        version,
                        mediator.id,
                        json.dumps(terms, ensure_ascii=False),
                    ),
                )
                return Agreement(document, dispute.id, version, mediator.id, tuple(terms))

            return transaction(conn, body)

        return await self.signing.run(work)

    async def get(self, document_id: str) -> Agreement | None:
        def work(conn: sqlite3.Connection) -> Agreement | None:
            row = conn.execute(
                "SELECT * FROM agreements WHERE document_id = ?", (document_id,)
            ).fetchone()
            return _agreement(conn, row) if row is not None else None

        return await self.signing.run(work)

    async def of_dispute(self, dispute_id: str) -> list[Agreement]:
        def work(conn: sqlite3.Connection) -> list[Agreement]:
            rows = conn.execute(
                "SELECT * FROM agreements WHERE dispute_id = ? ORDER BY version", (dispute_id,)
            ).fetchall()
            return [_agreement(conn, r) for r in rows]

        return await self.signing.run(work)
