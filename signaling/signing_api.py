"""HTTP routes of signing: documents and their signatures, mediation agreements, judicial
confirmation (docs/SIGNING.md).

Who may do what:

* a document is read by whoever may see its dispute (signaling/disputes.py ``visible``), the
  admin key, and a party's signing link for that one document;
* the mediator signs with their own account session; a party signs either in person on the
  site's device, with the session of the site officer, who ticks the attestation (it is then
  part of the entry), or remotely with a signing link (``Authorization: Bearer sl_…``) the
  mediator or a person of the site mints for that party and document, expiring in 1 h–7 days;
* the dispute's mediator drafts the agreement (a judge guiding the mediation too);
* the site officer applies for confirmation on the parties' behalf (attesting), or each party
  with its link; the liaison judge of the dispute's site reviews and decides — no one else, not
  even the admin key: a judicial decision is a judge's.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from signaling import documents_pdf
from signaling.account_auth import account_caller, is_admin, require_roles
from signaling.accounts import Account, AccountRole, accounts_of
from signaling.agreements import KIND as AGREEMENT
from signaling.agreements import Agreements, dispute_id_of, mediation_gate
from signaling.auth import bearer
from signaling.confirmation import (
    Confirmations,
)
from signaling.context import services
from signaling.disputes import (
    MEDIATING,
    Dispute,
    DisputeState,
    MediatorStatus,
    actor_label,
    disputes_of,
)
from signaling.errors import CourtError, bad_request, conflict, forbidden, not_found, unauthorized
from signaling.http_api import read_json, reply
from signaling.openapi import Response, operation
from signaling.replies_signing import (
    ActReply,
    AgreementList,
    ChainReply,
    DocumentReply,
    IdentityReply,
    LinkReply,
)
from signaling.schemas_parse import body
from signaling.schemas_signing import (
    IdentityBody,
    LinkBody,
    NewAgreement,
    RefuseBody,
    SignBody,
)
from signaling.signing import (
    Actor,
    Attestation,
    Document,
    DocumentState,
    Entry,
    EntryType,
    Signer,
    check_signature_image,
)
from signaling.signing_store import LINK_PREFIX, Link, SigningStore, status_of
from signaling.sites import sites_of
from signaling.store import SqliteStore

log = logging.getLogger("cloudcourt.signing")
routes = web.RouteTableDef()

SAW_SIGN = "本人在场见证当事人本人签署 I saw the party sign in person"
SAW_REFUSE = "本人在场见证当事人拒绝签署 I saw the party refuse in person"
SAW_APPLY = "当事人当面向本人申请司法确认 The parties applied before me in person"


@dataclass(frozen=True)
class Signing:
    store: SigningStore
    agreements: Agreements
    confirmations: Confirmations


SIGNING: web.AppKey[Signing] = web.AppKey("signing", Signing)


def signing_of(request: web.Request) -> Signing:
    return request.app[SIGNING]


@dataclass(frozen=True)
class Caller:
    """The admin key (nothing set), an account, or a party's signing link (its document and
    signer)."""

    account: Account | None = None
    link: Link | None = None

    @property
    def is_link(self) -> bool:
        return self.link is not None

    @property
    def link_document(self) -> str | None:
        return self.link.document_id if self.link else None

    @property
    def link_signer(self) -> str | None:
        return self.link.signer if self.link else None

    def link_actor(self, signer: Signer) -> Actor:
        """The party acting with its link, as the chain records it: the link, who sent it,
        and how the party proved who they are."""
        assert self.link is not None
        return Actor(
            "link",
            signer.ref,
            signer.name,
            "party",
            link={
                "id": self.link.id,
                "minted_by": self.link.minted_by,
                "identity": "id_last6",
            },
        )


async def caller_of(request: web.Request, *, links: bool = True, identity: bool = True) -> Caller:
    """Who calls. A signing link is a credential only where ``links``, and (``identity``)
    only once its party proved who they are (POST /api/documents/{id}/identity)."""
    credential = bearer(request)
    assert credential is not None
    if credential.startswith(LINK_PREFIX):
        found = await signing_of(request).store.resolve_link(credential) if links else None
        if found is None:
            raise unauthorized(
                "the signing link is unknown, has expired or was burned by wrong answers (or "
                "is not for this route); ask the site officer for a new one"
            )
        if identity and not found.verified:
            raise forbidden(
                "confirm who you are first: enter the last 6 digits of your ID number "
                "(POST /api/documents/{id}/identity)"
            )
        return Caller(link=found)
    return Caller(account=await account_caller(request))


async def readable(
    request: web.Request, who: Caller, document_id: str
) -> tuple[Document, Dispute | None]:
    """The document and its dispute, if ``who`` may read it (404 unknown, 403 not theirs)."""
    document = await signing_of(request).store.get(document_id)
    if document is None:
        raise not_found(f"no such document: {document_id}")
    dispute_id = dispute_id_of(document)
    dispute = await disputes_of(request).find(dispute_id) if dispute_id else None
    if who.is_link:
        if who.link_document != document.id:
            raise forbidden("this signing link is for another document")
    elif not is_admin(who.account) and (
        dispute is None or not await disputes_of(request).visible(who.account, dispute)
    ):
        raise forbidden(f"document {document_id} belongs to a dispute you do not handle")
    if document.kind == AGREEMENT and document.state is DocumentState.open:
        # An agreement whose dispute left mediation is withdrawn when next read (lazily: the
        # disputes' own code knows nothing of agreements).
        store = signing_of(request).store
        await store.settle(document.id, mediation_gate)
        document = await store.get(document.id) or document
    return document, dispute


def pdf_url(document_id: str) -> str:
    return f"/api/documents/{document_id}/pdf"


async def document_json(
    request: web.Request, document: Document, who: Caller | None = None
) -> dict[str, Any]:
    signing = signing_of(request)
    entries = await signing.store.entries(document.id)
    status = status_of(document, entries)
    agreement = await signing.agreements.get(document.id) if document.kind == AGREEMENT else None
    return {
        "id": document.id,
        "kind": document.kind,
        "subject": document.subject,
        "title": document.title,
        "text": document.text,
        "text_sha256": document.text_sha256,
        "state": document.state.value,
        "signers": [{**s.to_json(), "status": status[s.key].value} for s in document.signers],
        "entries": [e.to_json() for e in entries],
        "created_at": document.created_at,
        "updated_at": document.updated_at,
        "effective_at": document.effective_at,
        "pdf_url": pdf_url(document.id),
        "agreement": None
        if agreement is None
        else {
            "dispute_id": agreement.dispute_id,
            "version": agreement.version,
            "mediator_id": agreement.mediator_id,
            "terms": list(agreement.terms),
        },
        # Read with a signing link: whose link it is (the page signs as that party).
        "link_signer": who.link_signer if who is not None else None,
    }


# ---------------------------------------------------------------------------- documents


@routes.get("/api/documents/{document_id}")
@operation(
    "a signed document: its exact text and SHA-256, its signers and where each stands, its "
    "chain entries (a party's signing link reads its own document)",
    {200: DocumentReply},
    security="signing",
)
async def get_document(request: web.Request) -> web.Response:
    who = await caller_of(request)
    document, _ = await readable(request, who, request.match_info["document_id"])
    return reply(await document_json(request, document, who))


async def _signer(
    request: web.Request,
    who: Caller,
    document: Document,
    party_id: str | None,
    attest: bool,
    statement: str,
) -> tuple[str, Actor, Attestation | None]:
    """Whose act this is, who performed it, and the officer's attestation if in person."""
    if who.is_link:
        assert who.link_signer is not None
        if party_id is not None and f"party:{party_id}" != who.link_signer:
            raise forbidden("this signing link is for another party")
        if attest:
            raise bad_request("'attest' is the site officer's: a signing link is used remotely")
        signer = document.signer(who.link_signer)
        if signer is None:
            raise forbidden("this signing link's party is not a signer of the document")
        return signer.key, who.link_actor(signer), None
    account = who.account
    if party_id is not None:
        signer = document.signer(f"party:{party_id}")
        if signer is None:
            raise forbidden(f"{party_id} is not a signer of document {document.id}")
        if account is None or account.role is not AccountRole.OFFICER:
            raise forbidden(
                "a party signs in person with the site officer's session, or remotely with "
                "its signing link"
            )
        site = await sites_of(request).get(signer.site_id) if signer.site_id else None
        if site is None or site.officer_id != account.id:
            raise forbidden(f"only the officer of site {signer.site_id} attests its parties' acts")
        if not attest:
            raise bad_request(
                "'attest' must be true: the officer attests that they saw the party in person"
            )
        attestation = Attestation(account.id, account.name, site.id, statement)
        return signer.key, Actor("account", account.id, account.name, "officer"), attestation
    if account is None:
        raise forbidden(
            "the admin key signs for no one: the signer's own account, a party's signing link, "
            "or the site officer's session for a party in person"
        )
    if attest:
        raise bad_request("'attest' is for a party in person; name it with 'party_id'")
    return f"account:{account.id}", Actor("account", account.id, account.name, account.role), None


def _label(who: Caller, actor: Actor) -> str:
    if who.is_link:
        return f"party {actor.name} ({actor.id}) via signing link"
    return actor_label(who.account)


async def _after_act(
    request: web.Request, who: Caller, document: Document, entry: Entry, actor: Actor
) -> str | None:
    """An agreement effective at its last signature moves the dispute to ``mediated`` (SPC
    online mediation rules 2021, Art. 19). The signature stands whatever the dispute does: a
    refused move is logged, and the reply says where the dispute is."""
    dispute_id = dispute_id_of(document)
    if dispute_id is None:
        return None
    disputes = disputes_of(request)
    if document.kind == AGREEMENT and document.state is DocumentState.effective:
        agreement = await signing_of(request).agreements.get(document.id)
        try:
            moved = await disputes.transition(
                dispute_id,
                DisputeState.MEDIATED,
                _label(who, actor),
                "调解协议经各方签名，自最后一方签名时生效（在线调解规则第十九条）",
                {
                    "agreement": document.id,
                    "version": agreement.version if agreement else None,
                    "text_sha256": document.text_sha256,
                    "entry": entry.seq,
                    "entry_hash": entry.hash,
                },
            )
            return moved.state.value
        except CourtError as exc:
            log.warning("agreement %s effective, dispute not moved: %s", document.id, exc.message)
    found = await disputes.find(dispute_id)
    return found.state.value if found else None


async def _act(request: web.Request, entry_type: EntryType) -> web.Response:
    who = await caller_of(request)
    document, _ = await readable(request, who, request.match_info["document_id"])
    data = await read_json(request)
    png: bytes | None = None
    reason: str | None = None
    if entry_type is EntryType.signature:
        signed = body(SignBody, data)
        text_hash, party_id, attest = signed.text_sha256, signed.party_id, signed.attest
        png = base64.b64decode(signed.image)
        # Decoding takes time (up to the size cap): off the event loop, which serves hearings.
        if (problem := await asyncio.to_thread(check_signature_image, png)) is not None:
            raise bad_request(problem)
        statement = SAW_SIGN
    else:
        refused = body(RefuseBody, data)
        text_hash, party_id, attest = refused.text_sha256, refused.party_id, refused.attest
        reason, statement = refused.reason, SAW_REFUSE
    signer_key, actor, attestation = await _signer(
        request, who, document, party_id, attest, statement
    )
    entry, document = await signing_of(request).store.act(
        document.id,
        signer_key,
        entry_type,
        # In the act's transaction: the dispute is still being mediated when it is written.
        mediation_gate,
        text_hash=text_hash,
        actor=actor,
        png=png,
        attestation=attestation,
        reason=reason,
    )
    log.info("document %s: %s by %s (entry %d)", document.id, entry_type, signer_key, entry.seq)
    state = await _after_act(request, who, document, entry, actor)
    return reply(
        {
            "entry": entry.to_json(),
            "document": await document_json(request, document, who),
            "dispute_state": state,
        },
        201,
    )


_ACT_ERRORS = {
    403: "not a signer of the document, or not the one who may sign for them (a link: its "
    "party has not confirmed who they are)",
    409: "the text's hash is not the document's, the signer already signed or refused, the "
    "document is no longer open, or its dispute is no longer being mediated",
}


@routes.post("/api/documents/{document_id}/signatures")
@operation(
    "sign: the drawn signature (PNG) bound to the text's SHA-256, the signer, the server's "
    "time and, in person at a site, the officer's attestation; the last signature makes an "
    "agreement effective and the dispute mediated",
    {201: ActReply},
    security="signing",
    body=SignBody,
    errors=_ACT_ERRORS,
)
async def sign(request: web.Request) -> web.Response:
    return await _act(request, EntryType.signature)


@routes.post("/api/documents/{document_id}/refusals")
@operation(
    "refuse to sign, with a reason: the document fails (an agreement may be drafted anew)",
    {201: ActReply},
    security="signing",
    body=RefuseBody,
    errors=_ACT_ERRORS,
)
async def refuse(request: web.Request) -> web.Response:
    return await _act(request, EntryType.refusal)


@routes.post("/api/documents/{document_id}/links")
@operation(
    "a party's signing link for this document (the token is shown once)",
    {201: LinkReply},
    security="account",
    body=LinkBody,
    errors={
        403: "a signer of the document, or not a person of the dispute's site",
        409: "not open",
    },
)
async def mint_link(request: web.Request) -> web.Response:
    who = await caller_of(request, links=False)
    document, dispute = await readable(request, who, request.match_info["document_id"])
    data = body(LinkBody, await read_json(request))
    account = who.account
    if account is not None and document.signer(f"account:{account.id}") is not None:
        # The mediator signs the agreement: were they to send the parties' links too, one
        # person would hold every signature of it.
        raise forbidden(
            "a signer of the document mints no signing links for it: the site officer sends them"
        )
    allowed = is_admin(account) or (
        account is not None
        and dispute is not None
        and await sites_of(request).acts_for(account, dispute.intake_site_id)
    )
    if not allowed:
        raise forbidden("a person of the dispute's site (not a signer) mints signing links")
    signer = document.signer(f"party:{data.party_id}")
    if signer is None:
        raise bad_request(f"{data.party_id} is not a party signing document {document.id}")
    if document.state is not DocumentState.open:
        raise conflict(f"document {document.id} is {document.state}, not open for signing")
    actor = account_actor(account)
    token, link = await signing_of(request).store.mint_link(
        document.id, signer.key, timedelta(hours=data.hours), actor
    )
    log.info(
        "document %s: link %s for %s minted by %s", document.id, link.id, signer.key, actor.label
    )
    base = services(request).settings.public_url.rstrip("/")
    return reply(
        {
            "token": token,
            # In the fragment: a browser never sends it, so it stays out of access logs.
            "url": f"{base}/sign?document={document.id}#link={token}",
            "document_id": document.id,
            "party_id": data.party_id,
            "expires_at": link.expires_at,
            "link_id": link.id,
        },
        201,
    )


@routes.post("/api/documents/{document_id}/identity")
@operation(
    "a party with its signing link proves who they are: the last 6 characters of their ID "
    "number, checked against the dispute's record (5 wrong answers burn the link); only then "
    "does the link read, sign or apply",
    {200: IdentityReply},
    security="signing",
    body=IdentityBody,
    errors={
        401: "no signing link, or one unknown, expired or burned",
        403: "the digits are not the party's (the reply says how many tries are left)",
    },
)
async def confirm_identity(request: web.Request) -> web.Response:
    credential = bearer(request) or ""
    if not credential.startswith(LINK_PREFIX):
        raise forbidden("only a party's signing link confirms a party's identity")
    who = await caller_of(request, identity=False)
    assert who.link is not None
    if who.link.document_id != request.match_info["document_id"]:
        raise forbidden("this signing link is for another document")
    data = body(IdentityBody, await read_json(request))
    document = await signing_of(request).store.get(who.link.document_id)
    dispute_id = dispute_id_of(document) if document else None
    dispute = await disputes_of(request).find(dispute_id) if dispute_id else None
    party_id = who.link.signer.removeprefix("party:")
    party = next((p for p in dispute.parties if p.id == party_id), None) if dispute else None
    if party is None:
        raise conflict("the link's party is not on the dispute's record any more")
    right = hmac.compare_digest(party.id_number[-6:].upper(), data.id_last6)
    link, left = await signing_of(request).store.link_attempt(credential, right)
    if link is None:
        log.warning("signing link %s burned after wrong identity answers", who.link.id)
        raise unauthorized(
            "the signing link is burned after 5 wrong answers; ask the site officer for a new one"
        )
    if not right:
        raise forbidden(
            f"those are not the last 6 digits of the party's ID number ({left} tries left)"
        )
    return reply({"verified": True, "link_id": link.id, "party_id": party_id})


def account_actor(account: Account | None) -> Actor:
    if account is None:
        return Actor("admin", None, "admin key")
    return Actor("account", account.id, account.name, account.role.value)


@routes.get("/api/documents/{document_id}/pdf")
@operation(
    "the document as a PDF: text, signatures (images), times, attestations, the text's "
    "SHA-256 and each chain entry's hash",
    {200: Response("the PDF", "application/pdf")},
    security="signing",
)
async def document_pdf(request: web.Request) -> web.Response:
    who = await caller_of(request)
    document, _ = await readable(request, who, request.match_info["document_id"])
    store = signing_of(request).store
    entries, images, head = (
        await store.entries(document.id),
        await store.images(document.id),
        await store.head(),
    )
    pdf = await asyncio.to_thread(documents_pdf.render, document, entries, images, head)
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{document.id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@routes.get("/api/signatures/chain")
@operation(
    "verify the whole signature chain now (what `cloudcourt verify --signatures` does)",
    {200: ChainReply},
    security="account",
    errors={403: "not an admin"},
)
async def chain(request: web.Request) -> web.Response:
    require_roles(await account_caller(request))
    report = await signing_of(request).store.verify()
    return reply(
        {
            "ok": report.ok,
            "entries": report.entries,
            "documents": report.documents,
            "head": report.head,
            "head_seq": report.head_seq,
            "error": report.error,
            "problems": report.problems,
        }
    )


# ---------------------------------------------------------------------------- agreements


async def _visible_dispute(request: web.Request, account: Account | None) -> Dispute:
    dispute = await disputes_of(request).get(request.match_info["dispute_id"])
    if not await disputes_of(request).visible(account, dispute):
        raise forbidden(f"dispute {dispute.id} is not one you handle")
    return dispute


async def _mediator(request: web.Request, account: Account | None, dispute: Dispute) -> Account:
    """Who signs the agreement as mediator: the caller if they mediate the dispute (or guide
    it as its judge); for the admin key or an admin, the dispute's appointed mediator."""
    if account is not None and not is_admin(account):
        if dispute.mediator_id == account.id:
            if dispute.mediator_status is not MediatorStatus.ACCEPTED:
                raise conflict("accept the appointment as the dispute's mediator first")
            return account
        if (
            account.role is AccountRole.JUDGE
            and dispute.judge_id == account.id
            and dispute.state is DisputeState.JUDGE_MEDIATION
        ):
            return account
        raise forbidden("the dispute's mediator (or its guiding judge) drafts the agreement")
    if dispute.mediator_id is None:
        raise conflict(f"dispute {dispute.id} has no mediator to sign its agreement")
    mediator = await accounts_of(request).get(dispute.mediator_id)
    if mediator is None:
        raise conflict(f"the mediator {dispute.mediator_id} has no account")
    return mediator


@routes.post("/api/disputes/{dispute_id}/agreements")
@operation(
    "draft the dispute's mediation agreement from the template and the mediator's terms (a "
    "new version withdraws one still open)",
    {201: DocumentReply},
    security="account",
    body=NewAgreement,
    errors={
        403: "not the dispute's mediator",
        409: "the dispute is not being mediated, or already has an effective agreement",
    },
)
async def draft_agreement(request: web.Request) -> web.Response:
    account = await account_caller(request)
    dispute = await _visible_dispute(request, account)
    data = body(NewAgreement, await read_json(request))
    if dispute.state not in MEDIATING:
        raise conflict(
            f"dispute {dispute.id} is {dispute.state.value}: an agreement is drafted while it "
            "is being mediated"
        )
    mediator = await _mediator(request, account, dispute)
    site = await sites_of(request).get(dispute.intake_site_id)
    agreement = await signing_of(request).agreements.draft(
        dispute, site, mediator, list(data.terms), data.performance, account_actor(account)
    )
    log.info(
        "dispute %s: agreement %s v%d drafted", dispute.id, agreement.document.id, agreement.version
    )
    return reply(await document_json(request, agreement.document), 201)


@routes.get("/api/disputes/{dispute_id}/agreements")
@operation("the dispute's agreements, every version", {200: AgreementList}, security="account")
async def list_agreements(request: web.Request) -> web.Response:
    account = await account_caller(request)
    dispute = await _visible_dispute(request, account)
    found = await signing_of(request).agreements.of_dispute(dispute.id)
    return reply({"agreements": [await document_json(request, a.document) for a in found]})


def add_routes(app: web.Application, database: SqliteStore) -> None:
    # Imported here: the confirmation routes build on this module's helpers.
    from signaling import confirmation_api

    store = SigningStore(database)
    app[SIGNING] = Signing(store, Agreements(store), Confirmations(store))
    app.add_routes(routes)
    app.add_routes(confirmation_api.routes)
