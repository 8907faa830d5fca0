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
import secrets
import sqlite3
from collections.abc import Callable
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
            "signers": [s.key for s in document.signers],
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
        self, document_id: str, signer_key: str, entry_type: EntryType, **fields: Any
    ) -> tuple[Entry, Document]:
        """:func:`act_in` in a transaction of its own."""
        return await self.store.run(
            lambda conn: _transaction(
                conn, lambda: act_in(conn, document_id, signer_key, entry_type, **fields)
            )
        )

    # ------------------------------------------------------------------ signing links
    async def mint_link(
        self, document_id: str, signer_key: str, ttl: timedelta, actor: Actor
    ) -> tuple[str, str]:
        """A party's signing link token (shown once; only its SHA-256 is kept) and when it
        expires."""
        token = LINK_PREFIX + secrets.token_urlsafe(32)
        expires = (datetime.now(UTC) + ttl).isoformat(timespec="seconds")

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO signing_links (token_sha256, document_id, signer, created_by,"
                " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (_link_hash(token), document_id, signer_key, actor.label, utc_now(), expires),
            )

        await self.store.run(work)
        return token, expires

    async def resolve_link(self, token: str) -> tuple[str, str] | None:
        """(document id, signer key) of an unexpired link, else None."""

        def work(conn: sqlite3.Connection) -> tuple[str, str] | None:
            row = conn.execute(
                "SELECT document_id, signer, expires_at FROM signing_links WHERE token_sha256 = ?",
                (_link_hash(token),),
            ).fetchone()
            if row is None or datetime.fromisoformat(row["expires_at"]) <= datetime.now(UTC):
                return None
            return row["document_id"], row["signer"]

        return await self.store.run(work)

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


def verify_chain(conn: sqlite3.Connection) -> ChainReport:
    """Check every entry's hash and link, each document's text against its hash and the hash
    its ``document`` entry bound, and each image against the hash its entry bound. The report's
    ``error`` names the first fault (by entry seq or document id); ``problems`` lists all."""
    report = ChainReport()
    issued: dict[str, str] = {}  # document id → text hash bound by its document entry
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
            if entry_type == EntryType.document:
                issued[document_id] = str(body.get("text_sha256"))
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
    for row in conn.execute("SELECT id, text, text_sha256 FROM signed_documents ORDER BY id"):
        document_id, text, stored = row[0], row[1], row[2]
        report.documents += 1
        if text_sha256(text) != stored:
            report.problems.append(f"document {document_id}: its text does not match its SHA-256")
        elif document_id not in issued:
            report.problems.append(f"document {document_id} has no intact entry in the chain")
        elif issued[document_id] != stored:
            report.problems.append(
                f"document {document_id}: its SHA-256 is not the one the chain bound"
            )
    report.error = report.problems[0] if report.problems else None
    return report
