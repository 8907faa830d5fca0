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
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from signaling import documents_pdf
from signaling.account_auth import account_caller, is_admin, require_roles
from signaling.accounts import Account, AccountRole, accounts_of
from signaling.agreements import KIND as AGREEMENT
from signaling.agreements import Agreements, dispute_id_of
from signaling.auth import bearer
from signaling.confirmation import (
    Confirmation,
    Confirmations,
    application_deadline,
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
    ConfirmationList,
    ConfirmationReply,
    DecisionReply,
    DocumentReply,
    LinkReply,
)
from signaling.schemas_parse import body, query
from signaling.schemas_signing import (
    ApplyBody,
    ConfirmationQuery,
    Decision,
    DecisionBody,
    LinkBody,
    NewAgreement,
    RefuseBody,
    ReviewBody,
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
from signaling.signing_store import LINK_PREFIX, SigningStore, status_of
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
    link_document: str | None = None
    link_signer: str | None = None

    @property
    def is_link(self) -> bool:
        return self.link_signer is not None


async def caller_of(request: web.Request, *, links: bool = True) -> Caller:
    credential = bearer(request)
    assert credential is not None
    if credential.startswith(LINK_PREFIX):
        found = await signing_of(request).store.resolve_link(credential) if links else None
        if found is None:
            raise unauthorized(
                "the signing link is unknown or has expired (or is not for this route); ask "
                "the site officer or the mediator for a new one"
            )
        return Caller(link_document=found[0], link_signer=found[1])
    return Caller(account=await account_caller(request))


async def _readable(
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
    return document, dispute


def _pdf_url(document_id: str) -> str:
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
        "pdf_url": _pdf_url(document.id),
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
    security="account",
)
async def get_document(request: web.Request) -> web.Response:
    who = await caller_of(request)
    document, _ = await _readable(request, who, request.match_info["document_id"])
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
        return signer.key, Actor("link", signer.ref, signer.name, "party"), None
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
    document, _ = await _readable(request, who, request.match_info["document_id"])
    data = await read_json(request)
    png: bytes | None = None
    reason: str | None = None
    if entry_type is EntryType.signature:
        signed = body(SignBody, data)
        text_hash, party_id, attest = signed.text_sha256, signed.party_id, signed.attest
        png = base64.b64decode(signed.image)
        if (problem := check_signature_image(png)) is not None:
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
    403: "not a signer of the document, or not the one who may sign for them",
    409: "the text's hash is not the document's, the signer already signed or refused, or "
    "the document is no longer open",
}


@routes.post("/api/documents/{document_id}/signatures")
@operation(
    "sign: the drawn signature (PNG) bound to the text's SHA-256, the signer, the server's "
    "time and, in person at a site, the officer's attestation; the last signature makes an "
    "agreement effective and the dispute mediated",
    {201: ActReply},
    security="account",
    body=SignBody,
    errors=_ACT_ERRORS,
)
async def sign(request: web.Request) -> web.Response:
    return await _act(request, EntryType.signature)


@routes.post("/api/documents/{document_id}/refusals")
@operation(
    "refuse to sign, with a reason: the document fails (an agreement may be drafted anew)",
    {201: ActReply},
    security="account",
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
    errors={403: "not the mediator or a person of the dispute's site", 409: "not open"},
)
async def mint_link(request: web.Request) -> web.Response:
    who = await caller_of(request, links=False)
    document, dispute = await _readable(request, who, request.match_info["document_id"])
    data = body(LinkBody, await read_json(request))
    account = who.account
    allowed = is_admin(account) or (
        account is not None
        and (
            document.signer(f"account:{account.id}") is not None
            or (
                dispute is not None
                and await sites_of(request).acts_for(account, dispute.intake_site_id)
            )
        )
    )
    if not allowed:
        raise forbidden("the mediator or a person of the dispute's site mints signing links")
    signer = document.signer(f"party:{data.party_id}")
    if signer is None:
        raise bad_request(f"{data.party_id} is not a party signing document {document.id}")
    if document.state is not DocumentState.open:
        raise conflict(f"document {document.id} is {document.state}, not open for signing")
    actor = _account_actor(account)
    token, expires = await signing_of(request).store.mint_link(
        document.id, signer.key, timedelta(hours=data.hours), actor
    )
    base = services(request).settings.public_url.rstrip("/")
    return reply(
        {
            "token": token,
            # In the fragment: a browser never sends it, so it stays out of access logs.
            "url": f"{base}/sign?document={document.id}#link={token}",
            "document_id": document.id,
            "party_id": data.party_id,
            "expires_at": expires,
        },
        201,
    )


def _account_actor(account: Account | None) -> Actor:
    if account is None:
        return Actor("admin", None, "admin key")
    return Actor("account", account.id, account.name, account.role.value)


@routes.get("/api/documents/{document_id}/pdf")
@operation(
    "the document as a PDF: text, signatures (images), times, attestations, the text's "
    "SHA-256 and each chain entry's hash",
    {200: Response("the PDF", "application/pdf")},
    security="account",
)
async def document_pdf(request: web.Request) -> web.Response:
    who = await caller_of(request)
    document, _ = await _readable(request, who, request.match_info["document_id"])
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
        dispute, site, mediator, list(data.terms), data.performance, _account_actor(account)
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


# ---------------------------------------------------------------------------- confirmation


async def confirmation_json(request: web.Request, confirmation: Confirmation) -> dict[str, Any]:
    agreement = await signing_of(request).store.get(confirmation.agreement_id)
    effective = agreement.effective_at if agreement else None
    return {
        **confirmation.to_json(),
        "deadline": application_deadline(effective).isoformat() if effective else "",
        "decision_pdf_url": _pdf_url(confirmation.decision_id)
        if confirmation.decision_id
        else None,
    }


@routes.post("/api/agreements/{agreement_id}/confirmation")
@operation(
    "apply for judicial confirmation of an effective agreement (within 30 days): the site "
    "officer on the parties' behalf (attesting), or a party with its signing link",
    {201: ConfirmationReply},
    security="account",
    body=ApplyBody,
    errors={
        403: "not the site's officer or the party's link",
        409: "the agreement is not effective, the 30 days have passed, or already applied",
    },
)
async def apply(request: web.Request) -> web.Response:
    who = await caller_of(request)
    document, dispute = await _readable(request, who, request.match_info["agreement_id"])
    if document.kind != AGREEMENT or dispute is None:
        raise not_found(f"no agreement {document.id}")
    data = body(ApplyBody, await read_json(request))
    attestation: Attestation | None = None
    if who.is_link:
        assert who.link_signer is not None
        party = who.link_signer.removeprefix("party:")
        if data.parties is not None and data.parties != [party]:
            raise forbidden("a party's link applies for that party only")
        if data.attest:
            raise bad_request("'attest' is the site officer's: a signing link is used remotely")
        signer = document.signer(who.link_signer)
        assert signer is not None
        parties, actor = [party], Actor("link", party, signer.name, "party")
    else:
        account = who.account
        site = await sites_of(request).get(dispute.intake_site_id)
        if not is_admin(account):
            assert account is not None
            if site is None or site.officer_id != account.id:
                raise forbidden("the officer of the dispute's site applies on the parties' behalf")
            if not data.attest:
                raise bad_request(
                    "'attest' must be true: the officer attests that the parties applied "
                    "before them"
                )
            attestation = Attestation(account.id, account.name, site.id, SAW_APPLY)
        parties = list(data.parties) if data.parties else [p.id for p in dispute.parties]
        actor = _account_actor(account)
    confirmation, _ = await signing_of(request).confirmations.apply(
        document.id, dispute, parties, actor, attestation, data.statement
    )
    return reply(await confirmation_json(request, confirmation), 201)


@routes.get("/api/confirmations")
@operation(
    "applications for judicial confirmation the caller may see (a judge: their sites')",
    {200: ConfirmationList},
    security="account",
    query=ConfirmationQuery,
)
async def list_confirmations(request: web.Request) -> web.Response:
    account = await account_caller(request)
    wanted = query(ConfirmationQuery, request.query)
    site_ids: set[str] | None = None
    if not (is_admin(account) or (account is not None and account.role is AccountRole.COMMAND)):
        site_ids = {s.id for s in await sites_of(request).visible_to(account)}
    found = await signing_of(request).confirmations.listing(state=wanted.state, site_ids=site_ids)
    if wanted.dispute_id is not None:
        found = [c for c in found if c.dispute_id == wanted.dispute_id]
    return reply({"confirmations": [await confirmation_json(request, c) for c in found]})


async def _confirmation(
    request: web.Request, account: Account | None
) -> tuple[Confirmation, Dispute]:
    confirmation_id = request.match_info["confirmation_id"]
    found = await signing_of(request).confirmations.get(confirmation_id)
    if found is None:
        raise not_found(f"no confirmation {confirmation_id}")
    dispute = await disputes_of(request).get(found.dispute_id)
    if not await disputes_of(request).visible(account, dispute):
        raise forbidden(f"confirmation {confirmation_id} is of a dispute you do not handle")
    return found, dispute


async def _liaison_judge(request: web.Request, account: Account | None, site_id: str) -> Account:
    site = await sites_of(request).get(site_id)
    if account is None or account.role is not AccountRole.JUDGE or site is None:
        raise forbidden("the liaison judge of the dispute's site decides a judicial confirmation")
    if site.liaison_judge_id != account.id:
        raise forbidden(f"only the liaison judge of site {site_id} decides its confirmations")
    return account


async def _hearing(request: web.Request, hearing_id: str | None) -> None:
    if hearing_id is not None and await services(request).store.get_hearing(hearing_id) is None:
        raise not_found(f"no hearing {hearing_id}")


@routes.get("/api/confirmations/{confirmation_id}")
@operation(
    "one application for judicial confirmation", {200: ConfirmationReply}, security="account"
)
async def get_confirmation(request: web.Request) -> web.Response:
    found, _ = await _confirmation(request, await account_caller(request))
    return reply(await confirmation_json(request, found))


@routes.post("/api/confirmations/{confirmation_id}/review")
@operation(
    "the liaison judge records the video session of the review (a hearing's id)",
    {200: ConfirmationReply},
    security="account",
    body=ReviewBody,
    errors={403: "not the site's liaison judge", 409: "not pending"},
)
async def review(request: web.Request) -> web.Response:
    account = await account_caller(request)
    found, _ = await _confirmation(request, account)
    await _liaison_judge(request, account, found.site_id)
    data = body(ReviewBody, await read_json(request))
    await _hearing(request, data.hearing_id)
    updated = await signing_of(request).confirmations.review(found.id, data.hearing_id)
    return reply(await confirmation_json(request, updated))


@routes.post("/api/confirmations/{confirmation_id}/decision")
@operation(
    "the liaison judge confirms the agreement or refuses with a ground and a reason; the "
    "ruling (民事裁定书) is a chained document of its own; a confirmation closes the dispute",
    {201: DecisionReply},
    security="account",
    body=DecisionBody,
    errors={403: "not the site's liaison judge", 409: "not pending (decided, or not all applied)"},
)
async def decide(request: web.Request) -> web.Response:
    account = await account_caller(request)
    found, dispute = await _confirmation(request, account)
    judge = await _liaison_judge(request, account, found.site_id)
    data = body(DecisionBody, await read_json(request))
    confirm = data.decision is Decision.confirm
    if confirm and data.ground is not None:
        raise bad_request("'ground' is for a refusal (民诉法解释 Art. 358)")
    if not confirm and data.ground is None:
        raise bad_request("'ground' is required for a refusal (民诉法解释 Art. 358)")
    await _hearing(request, data.hearing_id)
    site = await sites_of(request).get(found.site_id)
    court = f"{site.county}人民法院" if site is not None and site.county else "人民法院"
    actor = Actor("account", judge.id, judge.name, judge.role.value)
    confirmation, ruling, entry = await signing_of(request).confirmations.decide(
        found.id,
        dispute=dispute,
        judge=Signer("account", judge.id, judge.name, "审判员"),
        actor=actor,
        court=court,
        site_name=site.name if site is not None else found.site_id,
        confirm=confirm,
        ground=data.ground,
        reason=data.reason,
        hearing_id=data.hearing_id,
    )
    state = dispute.state.value
    if confirm:
        try:
            moved = await disputes_of(request).transition(
                dispute.id,
                DisputeState.CLOSED,
                actor_label(judge),
                "司法确认：裁定调解协议有效（民事诉讼法第二百零六条）",
                {
                    "confirmation": confirmation.id,
                    "decision": ruling.id,
                    "entry": entry.seq,
                    "entry_hash": entry.hash,
                },
            )
            state = moved.state.value
        except CourtError as exc:
            log.warning("confirmation %s decided, dispute not closed: %s", found.id, exc.message)
    log.info("confirmation %s: %s by %s (ruling %s)", found.id, data.decision, judge.id, ruling.id)
    return reply(
        {
            "confirmation": await confirmation_json(request, confirmation),
            "decision": await document_json(request, ruling),
            "dispute_state": state,
        },
        201,
    )


def add_routes(app: web.Application, database: SqliteStore) -> None:
    store = SigningStore(database)
    app[SIGNING] = Signing(store, Agreements(store), Confirmations(store))
    app.add_routes(routes)
