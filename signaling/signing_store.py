"""Signed documents and their chain in the server's database (schema step 6).

Every write is one transaction on the store's thread (``BEGIN IMMEDIATE``): the checks of a
signature (the document open, the text's hash, a signer of it, not yet signed) and the entry
appended to the chain agree, so two signers at the same moment cannot both be "the last", and
the chain never forks. :func:`verify_chain` reads a connection only, so that ``cloudcourt
verify --signatures`` can check a database file without starting the server.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from signaling.errors import conflict, forbidden, not_found
from signaling.models import utc_now
from signaling.signing import (
    GENESIS,
    Actor,
    Attestation,
    ChainReport,
    Document,
    DocumentState,
    Entry,
    EntryType,
    Signer,
    SignerStatus,
    canonical,
    entry_hash,
    normalise_text,
    text_sha256,
)
from signaling.store import SqliteStore

T = TypeVar("T")
LINK_PREFIX = "sl_"
LINK_TRIES = 5  # wrong answers to the identity check before a link is burned
# A check run inside an act's transaction (before the act): a reason to refuse it (409), or
# None. It may write (e.g. withdraw the document); what it wrote is committed with the refusal.
Gate = Callable[[sqlite3.Connection, Document], str | None]


@dataclass(frozen=True)
class Link:
    """A party's signing link as the server keeps it (never the token itself)."""

    id: str
    document_id: str
    signer: str
    minted_by: dict[str, Any]
    expires_at: str
    verified_at: str | None
    failures: int

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


def _link(row: sqlite3.Row) -> Link:
    return Link(
        id=row["id"],
        document_id=row["document_id"],
        signer=row["signer"],
        minted_by=json.loads(row["minted_by"]),
        expires_at=row["expires_at"],
        verified_at=row["verified_at"],
        failures=row["failures"],
    )


def _live_link(conn: sqlite3.Connection, token: str) -> Link | None:
    row = conn.execute(
        "SELECT * FROM signing_links WHERE token_sha256 = ?", (_link_hash(token),)
    ).fetchone()
    if row is None or row["burned_at"] is not None:
        return None
    if datetime.fromisoformat(row["expires_at"]) <= datetime.now(UTC):
        return None
    return _link(row)


_DONE = {EntryType.signature: "signed", EntryType.refusal: "refused", EntryType.decision: "decided"}


def _document(row: sqlite3.Row) -> Document:
    return Document(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        title=row["title"],
        text=row["text"],
        text_sha256=row["text_sha256"],
        signers=tuple(Signer.from_json(s) for s in json.loads(row["signers"])),
        state=DocumentState(row["state"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        effective_at=row["effective_at"],
    )


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        seq=row["seq"],
        document_id=row["document_id"],
        type=EntryType(row["type"]),
        body=json.loads(row["body"]),
        hash=row["hash"],
    )


def _transaction(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _get(conn: sqlite3.Connection, document_id: str) -> Document | None:
    row = conn.execute("SELECT * FROM signed_documents WHERE id = ?", (document_id,)).fetchone()
    return _document(row) if row is not None else None


def _append(
    conn: sqlite3.Connection,
    document_id: str,
    entry_type: EntryType,
    fields: dict[str, Any],
    png: bytes | None = None,
) -> Entry:
    """Append one entry after the chain's head (inside the caller's transaction)."""
    last = conn.execute(
        "SELECT seq, hash FROM signature_chain ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    seq, prev = (last["seq"] + 1, last["hash"]) if last is not None else (1, GENESIS)
    body = {
        "seq": seq,
        "type": entry_type.value,
        "at": utc_now(),
        "document": document_id,
        **fields,
        "prev": prev,
    }
    digest = entry_hash(body)
    conn.execute(
        "INSERT INTO signature_chain (seq, document_id, type, body, hash) VALUES (?, ?, ?, ?, ?)",
        (seq, document_id, entry_type.value, canonical(body).decode(), digest),
    )
    if png is not None:
        conn.execute("INSERT INTO signature_images (seq, png) VALUES (?, ?)", (seq, png))
    return Entry(seq, document_id, entry_type, body, digest)


def get_in(conn: sqlite3.Connection, document_id: str) -> Document | None:
    """The document, read inside the caller's transaction."""
    return _get(conn, document_id)


def _acts(conn: sqlite3.Connection, document_id: str) -> dict[str, EntryType]:
    """Each signer's signature or refusal on the document so far."""
    rows = conn.execute(
        "SELECT type, body FROM signature_chain WHERE document_id = ? AND type IN (?, ?, ?)"
        " ORDER BY seq",
        (document_id, EntryType.signature, EntryType.refusal, EntryType.decision),
    ).fetchall()
    return {json.loads(r["body"])["signer"]: EntryType(r["type"]) for r in rows}


def new_document(
    *,
    kind: str,
    subject: str,
    title: str,
    text: str,
    signers: tuple[Signer, ...],
    actor: Actor,
    prefix: str = "doc_",
) -> Document:
    text = normalise_text(text)
    now = utc_now()
    return Document(
        id=prefix + secrets.token_hex(8),
        kind=kind,
        subject=subject,
        title=title,
        text=text,
        text_sha256=text_sha256(text),
        signers=signers,
        state=DocumentState.open,
        created_by=actor.label,
        created_at=now,
        updated_at=now,
        effective_at=None,
    )


def create_in(
    conn: sqlite3.Connection, document: Document, actor: Actor, detail: dict[str, Any] | None
) -> Entry:
    """Issue ``document`` inside the caller's transaction: its row and the chain's
    ``document`` entry, which binds the text's hash and the signers."""
    conn.execute(
        "INSERT INTO signed_documents (id, kind, subject, title, text, text_sha256,"
        " signers, state, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            document.id,
            document.kind,
            document.subject,
            document.title,
            document.text,
            document.text_sha256,
            json.dumps([s.to_json() for s in document.signers], ensure_ascii=False),
            document.state,
            document.created_by,
            document.created_at,
            document.updated_at,
        ),
    )
    return _append(
        conn,
        document.id,
        EntryType.document,
        {
            "kind": document.kind,
            "subject": document.subject,
            "title": document.title,
            "text_sha256": document.text_sha256,
            # Whole signers (names, roles): the row's copy is checked against these, and the PDF
            # prints names from here.
            "signers": [s.to_json() for s in document.signers],
            "actor": actor.to_json(),
            "detail": detail or {},
        },
    )


def act_in(
    conn: sqlite3.Connection,
    document_id: str,
    signer_key: str,
    entry_type: EntryType,
    *,
    text_hash: str,
    actor: Actor,
    png: bytes | None = None,
    attestation: Attestation | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> tuple[Entry, Document]:
    """A signer's signature, refusal or decision, inside the caller's transaction.

    403 for one not on the document; 409 for a document not open, for a text hash other than
    the document's (they read another text), and for a signer who already acted. The document
    is effective at the last required signature, refused at any refusal.
    """
    document = _get(conn, document_id)
    if document is None:
        raise not_found(f"no such document: {document_id}")
    signer = document.signer(signer_key)
    if signer is None:
        raise forbidden(f"{signer_key} is not a signer of document {document_id}")
    acts = _acts(conn, document_id)
    if signer_key in acts:
        raise conflict(f"{signer.name} has already {_DONE[acts[signer_key]]} it")
    if document.state is not DocumentState.open:
        raise conflict(f"document {document_id} is {document.state}, not open")
    if text_hash != document.text_sha256:
        raise conflict(
            f"text_sha256 {text_hash} is not the hash of the document's text "
            f"({document.text_sha256}); reload it and read it again"
        )
    fields: dict[str, Any] = {
        "signer": signer_key,
        "signer_name": signer.name,
        "signer_role": signer.role,
        "text_sha256": text_hash,
        "actor": actor.to_json(),
        "attestation": attestation.to_json() if attestation else None,
    }
    if png is not None:
        fields["image_sha256"] = hashlib.sha256(png).hexdigest()
    if reason is not None:
        fields["reason"] = reason
    if detail is not None:
        fields["detail"] = detail
    entry = _append(conn, document_id, entry_type, fields, png)
    acts[signer_key] = entry_type
    state: DocumentState = document.state
    effective_at: str | None = None
    if entry_type is EntryType.refusal:
        state = DocumentState.refused
    elif all(acts.get(s.key) is not None for s in document.signers):
        state, effective_at = DocumentState.effective, entry.at
    conn.execute(
        "UPDATE signed_documents SET state = ?, updated_at = ?, effective_at = ? WHERE id = ?",
        (state, entry.at, effective_at, document_id),
    )
    updated = _get(conn, document_id)
    assert updated is not None
    return entry, updated


def note_in(
    conn: sqlite3.Connection,
    document_id: str,
    entry_type: EntryType,
    *,
    actor: Actor,
    fields: dict[str, Any],
    withdraw: bool = False,
) -> Entry:
    """An entry that is no signer's act (an application, a withdrawal), inside the caller's
    transaction; ``withdraw`` also withdraws the document, which must be open."""
    document = _get(conn, document_id)
    if document is None:
        raise not_found(f"no such document: {document_id}")
    if withdraw:
        if document.state is not DocumentState.open:
            raise conflict(f"document {document_id} is {document.state}, not open")
        conn.execute(
            "UPDATE signed_documents SET state = ?, updated_at = ? WHERE id = ?",
            (DocumentState.withdrawn, utc_now(), document_id),
        )
    return _append(conn, document_id, entry_type, {"actor": actor.to_json(), **fields})


def transaction(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    """``fn()`` in one ``BEGIN IMMEDIATE`` transaction: all of it or nothing."""
    return _transaction(conn, fn)


class SigningStore:
    """The documents, the chain and the signing links, over the shared ``SqliteStore``. Other
    records' stores compose the ``*_in`` functions with their own rows in one transaction
    (``run`` + ``transaction``)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.store.run(fn)

    async def create(
        self, document: Document, actor: Actor, detail: dict[str, Any] | None = None
    ) -> Entry:
        return await self.store.run(
            lambda conn: _transaction(conn, lambda: create_in(conn, document, actor, detail))
        )

    async def get(self, document_id: str) -> Document | None:
        return await self.store.run(lambda conn: _get(conn, document_id))

    async def by_subject(self, subject: str) -> list[Document]:
        def work(conn: sqlite3.Connection) -> list[Document]:
            rows = conn.execute(
                "SELECT * FROM signed_documents WHERE subject = ? ORDER BY created_at", (subject,)
            )
            return [_document(r) for r in rows]

        return await self.store.run(work)

    async def entries(self, document_id: str) -> list[Entry]:
        def work(conn: sqlite3.Connection) -> list[Entry]:
            rows = conn.execute(
                "SELECT * FROM signature_chain WHERE document_id = ? ORDER BY seq", (document_id,)
            )
            return [_entry(r) for r in rows]

        return await self.store.run(work)

    async def images(self, document_id: str) -> dict[int, bytes]:
        def work(conn: sqlite3.Connection) -> dict[int, bytes]:
            rows = conn.execute(
                "SELECT i.seq, i.png FROM signature_images i JOIN signature_chain c"
                " ON c.seq = i.seq WHERE c.document_id = ?",
                (document_id,),
            )
            return {r["seq"]: bytes(r["png"]) for r in rows}

        return await self.store.run(work)

    async def head(self) -> tuple[int, str]:
        def work(conn: sqlite3.Connection) -> tuple[int, str]:
            row = conn.execute(
                "SELECT seq, hash FROM signature_chain ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            return (row["seq"], row["hash"]) if row is not None else (0, GENESIS)

        return await self.store.run(work)

    async def act(
        self,
        document_id: str,
        signer_key: str,
        entry_type: EntryType,
        gate: Gate | None = None,
        **fields: Any,
    ) -> tuple[Entry, Document]:
        """:func:`act_in` in a transaction of its own, after ``gate`` (in the same
        transaction, so what it checked still holds when the act is written)."""

        def body(conn: sqlite3.Connection) -> tuple[Entry, Document] | str:
            if gate is not None:
                document = _get(conn, document_id)
                if document is not None and (refusal := gate(conn, document)) is not None:
                    return refusal
            return act_in(conn, document_id, signer_key, entry_type, **fields)

        result = await self.store.run(lambda conn: _transaction(conn, lambda: body(conn)))
        if isinstance(result, str):
            raise conflict(result)  # after the commit: the gate's own writes stand
        return result

    async def settle(self, document_id: str, gate: Gate) -> None:
        """Run ``gate`` on the document in a transaction (its writes kept, its verdict not):
        a document whose subject moved on is withdrawn when it is next read."""

        def body(conn: sqlite3.Connection) -> None:
            document = _get(conn, document_id)
            if document is not None:
                gate(conn, document)

        await self.store.run(lambda conn: _transaction(conn, lambda: body(conn)))

    # ------------------------------------------------------------------ signing links
    async def mint_link(
        self, document_id: str, signer_key: str, ttl: timedelta, actor: Actor
    ) -> tuple[str, Link]:
        """A party's signing link token (shown once; only its SHA-256 is kept) and the link.
        Who minted it is kept, and every act made with it names them."""
        token = LINK_PREFIX + secrets.token_urlsafe(32)
        expires = (datetime.now(UTC) + ttl).isoformat(timespec="seconds")
        link_id = "lk_" + secrets.token_hex(8)
        minted_by = {"kind": actor.kind, "id": actor.id, "name": actor.name}

        def work(conn: sqlite3.Connection) -> Link:
            conn.execute(
                "INSERT INTO signing_links (token_sha256, id, document_id, signer, minted_by,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _link_hash(token),
                    link_id,
                    document_id,
                    signer_key,
                    json.dumps(minted_by, ensure_ascii=False),
                    utc_now(),
                    expires,
                ),
            )
            found = _live_link(conn, token)
            assert found is not None
            return found

        return token, await self.store.run(work)

    async def resolve_link(self, token: str) -> Link | None:
        """The link of ``token`` if it is known, unexpired and not burned, else None."""
        return await self.store.run(lambda conn: _live_link(conn, token))

    async def link_attempt(self, token: str, right: bool) -> tuple[Link | None, int]:
        """Record one answer to the link's identity check: right, the link is verified; wrong,
        one try fewer, and the fifth wrong answer burns it. (the link, None if burned or
        unknown; the tries left)."""

        def work(conn: sqlite3.Connection) -> tuple[Link | None, int]:
            link = _live_link(conn, token)
            if link is None:
                return None, 0
            if right:
                conn.execute(
                    "UPDATE signing_links SET verified_at = COALESCE(verified_at, ?)"
                    " WHERE token_sha256 = ?",
                    (utc_now(), _link_hash(token)),
                )
            else:
                failures = link.failures + 1
                conn.execute(
                    "UPDATE signing_links SET failures = ?, burned_at = ? WHERE token_sha256 = ?",
                    (failures, utc_now() if failures >= LINK_TRIES else None, _link_hash(token)),
                )
            return _live_link(conn, token), max(LINK_TRIES - (link.failures + (not right)), 0)

        return await self.store.run(lambda conn: _transaction(conn, lambda: work(conn)))

    async def verify(self) -> ChainReport:
        return await self.store.run(verify_chain)


def _link_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def status_of(document: Document, entries: list[Entry]) -> dict[str, SignerStatus]:
    """Each signer's status, from the chain."""
    status = {s.key: SignerStatus.pending for s in document.signers}
    for entry in entries:
        if entry.signer in status and entry.type in (EntryType.signature, EntryType.decision):
            status[entry.signer] = SignerStatus.signed
        elif entry.signer in status and entry.type is EntryType.refusal:
            status[entry.signer] = SignerStatus.refused
    return status


def parse_head(value: str) -> tuple[int, str]:
    """``SEQ:HASH`` as ``verify`` prints the head (and an operator records it) → (seq, hash);
    ValueError if it is not one."""
    seq, sep, digest = value.strip().partition(":")
    if not sep or not seq.isdigit() or int(seq) < 1 or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"{value!r} is not a chain head SEQ:HASH (e.g. 12:3fa4…, 64 hex digits)")
    return int(seq), digest


def verify_chain(
    conn: sqlite3.Connection, expect_head: tuple[int, str] | None = None
) -> ChainReport:
    """Check every entry's hash and link; each document's row against its ``document`` entry
    (kind, subject, title, signers, the text's hash) and its state and ``effective_at``
    against what its entries make them; each image against the hash its entry bound; entries
    whose document row is gone; each agreement's and confirmation's row against the entries
    that bound them; and, given ``expect_head`` (seq, hash) recorded elsewhere, that the chain
    still reaches it (a chain cut short after entry N is otherwise a valid shorter chain). The
    report's ``error`` names the first fault; ``problems`` lists all."""
    report = ChainReport()
    intact: dict[int, dict[str, Any]] = {}  # seq → body, of entries whose hash and link hold
    prev = GENESIS
    expected_seq = 1
    for row in conn.execute(
        "SELECT seq, document_id, type, body, hash FROM signature_chain ORDER BY seq"
    ):
        seq, document_id, entry_type, raw, digest = row[0], row[1], row[2], row[3], row[4]
        where = f"signature chain entry {seq} ({entry_type} of document {document_id})"
        try:
            body = json.loads(raw)
        except ValueError:
            report.problems.append(f"{where} is not valid JSON")
            prev = digest
            expected_seq = seq + 1
            continue
        if seq != expected_seq:
            report.problems.append(f"{where} is out of sequence (entry {expected_seq} is missing)")
        if not isinstance(body, dict) or body.get("seq") != seq:
            report.problems.append(f"{where} does not carry its own sequence number")
        elif body.get("document") != document_id or body.get("type") != entry_type:
            report.problems.append(f"{where} was altered (its row disagrees with its entry)")
        elif body.get("prev") != prev:
            report.problems.append(f"{where} does not follow entry {seq - 1} (chain broken)")
        elif entry_hash(body) != digest:
            report.problems.append(f"{where} was altered (its hash does not match)")
        else:
            intact[seq] = body
            if "image_sha256" in body:
                # One image at a time: a long chain's images need not all be in memory.
                found = conn.execute(
                    "SELECT png FROM signature_images WHERE seq = ?", (seq,)
                ).fetchone()
                png = bytes(found[0]) if found is not None else None
                if png is None:
                    report.problems.append(f"{where}: its signature image is missing")
                elif hashlib.sha256(png).hexdigest() != body["image_sha256"]:
                    report.problems.append(f"{where}: its signature image was altered")
        prev = digest
        expected_seq = seq + 1
        report.entries += 1
        report.head = digest
        report.head_seq = seq
    if expect_head is not None:
        _check_head(conn, expect_head, report)
    by_document: dict[str, list[dict[str, Any]]] = {}
    for body in intact.values():
        by_document.setdefault(str(body["document"]), []).append(body)
    rows = {r["id"]: r for r in _rows(conn, "SELECT * FROM signed_documents ORDER BY id")}
    for document_id, bodies in by_document.items():
        if document_id not in rows:
            report.problems.append(
                f"signature chain entry {bodies[0]['seq']} ({bodies[0]['type']} of document "
                f"{document_id}): its document row is missing"
            )
    for document_id, row in rows.items():
        report.documents += 1
        _check_document(row, by_document.get(document_id, []), report)
    _check_agreements(conn, by_document, report)
    _check_confirmations(conn, intact, report)
    report.error = report.problems[0] if report.problems else None
    return report


def _rows(conn: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    """Rows as dicts, whatever the connection's row factory (the CLI's has none)."""
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, tuple(r), strict=True)) for r in cursor.fetchall()]


def _check_head(
    conn: sqlite3.Connection, expect_head: tuple[int, str], report: ChainReport
) -> None:
    seq, digest = expect_head
    found = conn.execute("SELECT hash FROM signature_chain WHERE seq = ?", (seq,)).fetchone()
    if found is None:
        report.problems.append(
            f"the chain does not reach the recorded head {seq}:{digest} (it ends at entry "
            f"{report.head_seq}: entries were cut off)"
        )
    elif found[0] != digest:
        report.problems.append(
            f"signature chain entry {seq} is not the recorded head {seq}:{digest} (its hash is "
            f"{found[0]}: the chain was rewritten)"
        )


def _replay(bodies: list[dict[str, Any]], signers: list[str]) -> tuple[str, str | None]:
    """The state and ``effective_at`` a document's entries make it."""
    done: set[str] = set()
    for body in bodies:
        kind = body.get("type")
        if kind == EntryType.withdrawal:
            return DocumentState.withdrawn, None
        if kind == EntryType.refusal:
            return DocumentState.refused, None
        if kind in (EntryType.signature, EntryType.decision):
            done.add(str(body.get("signer")))
            if signers and all(s in done for s in signers):
                return DocumentState.effective, str(body.get("at"))
    return DocumentState.open, None


def _check_document(row: dict[str, Any], bodies: list[dict[str, Any]], report: ChainReport) -> None:
    document_id = row["id"]
    issued = next((b for b in bodies if b.get("type") == EntryType.document), None)
    if text_sha256(row["text"]) != row["text_sha256"]:
        report.problems.append(f"document {document_id}: its text does not match its SHA-256")
        return
    if issued is None:
        report.problems.append(f"document {document_id} has no intact entry in the chain")
        return
    if issued.get("text_sha256") != row["text_sha256"]:
        report.problems.append(
            f"document {document_id}: its SHA-256 is not the one the chain bound"
        )
    for column in ("kind", "subject", "title"):
        if issued.get(column) != row[column]:
            report.problems.append(
                f"document {document_id}: its {column} is not the one the chain bound"
            )
    try:
        signers = json.loads(row["signers"])
    except ValueError:
        signers = None
    if signers != issued.get("signers"):
        report.problems.append(
            f"document {document_id}: its signers are not the ones the chain bound"
        )
    keys = [str(s.get("key")) for s in issued.get("signers") or [] if isinstance(s, dict)]
    state, effective_at = _replay(bodies, keys)
    if row["state"] != state:
        report.problems.append(
            f"document {document_id}: its state is {row['state']}, its entries make it {state}"
        )
    elif row["effective_at"] != effective_at:
        report.problems.append(
            f"document {document_id}: it is effective at {row['effective_at']}, its entries "
            f"say {effective_at}"
        )


def _check_agreements(
    conn: sqlite3.Connection, by_document: dict[str, list[dict[str, Any]]], report: ChainReport
) -> None:
    for row in _rows(conn, "SELECT * FROM agreements ORDER BY document_id"):
        document_id = row["document_id"]
        issued = next(
            (b for b in by_document.get(document_id, []) if b.get("type") == EntryType.document),
            None,
        )
        if issued is None:
            continue  # already named: the document has no intact entry
        detail = issued.get("detail") or {}
        try:
            terms = json.loads(row["terms"])
        except ValueError:
            terms = None
        bound = (detail.get("dispute"), detail.get("version"), detail.get("mediator"))
        if bound != (row["dispute_id"], row["version"], row["mediator_id"]):
            report.problems.append(
                f"agreement {document_id}: its dispute, version or mediator is not what the "
                "chain bound"
            )
        if terms != detail.get("terms"):
            report.problems.append(
                f"agreement {document_id}: its terms are not the ones the chain bound"
            )


def _check_confirmations(
    conn: sqlite3.Connection, intact: dict[int, dict[str, Any]], report: ChainReport
) -> None:
    applied: dict[str, list[dict[str, Any]]] = {}
    decided: dict[str, dict[str, Any]] = {}
    for body in intact.values():
        confirmation_id = (body.get("detail") or {}).get("confirmation") or body.get("confirmation")
        if not isinstance(confirmation_id, str):
            continue
        if body.get("type") == EntryType.application:
            applied.setdefault(confirmation_id, []).append(body)
        elif body.get("type") == EntryType.decision:
            decided[confirmation_id] = body
    for row in _rows(conn, "SELECT * FROM confirmations ORDER BY id"):
        confirmation_id = row["id"]
        where = f"confirmation {confirmation_id}"
        applications = applied.get(confirmation_id, [])
        if not applications or any(b["document"] != row["agreement_id"] for b in applications):
            report.problems.append(f"{where}: its application is not in the chain")
            continue
        parties = {p for b in applications for p in b.get("parties") or []}
        required = set(applications[-1].get("required") or [])
        try:
            applicants = set(json.loads(row["applicants"]))
        except ValueError:
            applicants = set()
        if applicants != parties:
            report.problems.append(f"{where}: its applicants are not the ones the chain holds")
        decision = decided.get(confirmation_id)
        if decision is None:
            state = "pending" if required and required <= parties else "applying"
            expected: tuple[Any, ...] = (state, None, None, None, None)
        else:
            detail = decision.get("detail") or {}
            state = "confirmed" if detail.get("decision") == "confirm" else "refused"
            signer = str(decision.get("signer", "")).removeprefix("account:")
            expected = (
                state,
                detail.get("ground"),
                decision.get("reason"),
                decision.get("document"),
                signer,
            )
        found = (row["state"], row["ground"], row["reason"], row["decision_id"], row["judge_id"])
        if found != expected:
            report.problems.append(
                f"{where}: its state, ground, reason, ruling or judge is not what the chain holds"
                f" (the chain: {expected[0]})"
            )
