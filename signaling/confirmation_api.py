"""HTTP routes of judicial confirmation (司法确认, docs/SIGNING.md): the parties' application
(民事诉讼法 Art. 205), the liaison judge's review and decision (Art. 206; refusal grounds per
民诉法解释 Art. 358). Documents, signatures and links are signing_api's; this module builds on
its caller and document helpers."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from signaling.account_auth import account_caller, is_admin
from signaling.accounts import Account, AccountRole
from signaling.agreements import KIND as AGREEMENT
from signaling.confirmation import Confirmation, application_deadline
from signaling.context import services
from signaling.disputes import Dispute, DisputeState, actor_label, disputes_of
from signaling.errors import CourtError, bad_request, forbidden, not_found
from signaling.http_api import read_json, reply
from signaling.openapi import operation
from signaling.replies_signing import ConfirmationList, ConfirmationReply, DecisionReply
from signaling.schemas_parse import body, query
from signaling.schemas_signing import (
    ApplyBody,
    ConfirmationQuery,
    Decision,
    DecisionBody,
    ReviewBody,
)
from signaling.signing import Actor, Attestation, Signer
from signaling.signing_api import (
    SAW_APPLY,
    account_actor,
    caller_of,
    document_json,
    pdf_url,
    readable,
    signing_of,
)
from signaling.sites import sites_of

log = logging.getLogger("cloudcourt.signing")
routes = web.RouteTableDef()


async def confirmation_json(request: web.Request, confirmation: Confirmation) -> dict[str, Any]:
    agreement = await signing_of(request).store.get(confirmation.agreement_id)
    effective = agreement.effective_at if agreement else None
    return {
        **confirmation.to_json(),
        "deadline": application_deadline(effective).isoformat() if effective else "",
        "decision_pdf_url": pdf_url(confirmation.decision_id) if confirmation.decision_id else None,
    }


@routes.post("/api/agreements/{agreement_id}/confirmation")
@operation(
    "apply for judicial confirmation of an effective agreement (within 30 days): the site "
    "officer on the parties' behalf (attesting), or a party with its signing link",
    {201: ConfirmationReply},
    security="signing",
    body=ApplyBody,
    errors={
        403: "not the site's officer or the party's link",
        409: "the agreement is not effective, the 30 days have passed, or already applied",
    },
)
async def apply(request: web.Request) -> web.Response:
    who = await caller_of(request)
    document, dispute = await readable(request, who, request.match_info["agreement_id"])
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
        parties, actor = [party], who.link_actor(signer)
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
        actor = account_actor(account)
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
    found = await signing_of(request).confirmations.listing(state=wanted.state, site_ids=None)
    if wanted.dispute_id is not None:
        found = [c for c in found if c.dispute_id == wanted.dispute_id]
    # Who may see the dispute sees its confirmation (the rule of GET /api/confirmations/{id}),
    # not whoever has a role at its intake site.
    disputes = disputes_of(request)
    seen: dict[str, bool] = {}
    shown: list[Confirmation] = []
    for confirmation in found:
        if confirmation.dispute_id not in seen:
            dispute = await disputes.find(confirmation.dispute_id)
            seen[confirmation.dispute_id] = dispute is not None and (
                await disputes.visible(account, dispute)
            )
        if seen[confirmation.dispute_id]:
            shown.append(confirmation)
    return reply({"confirmations": [await confirmation_json(request, c) for c in shown]})


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


async def _hearing(request: web.Request, hearing_id: str | None, dispute: Dispute) -> None:
    """A review or ruling names a session of this dispute only."""
    if hearing_id is None:
        return
    hearing = await services(request).store.get_hearing(hearing_id)
    if hearing is None:
        raise not_found(f"no hearing {hearing_id}")
    if hearing.dispute_id != dispute.id:
        raise bad_request(f"hearing {hearing_id} is not a session of dispute {dispute.id}")


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
    found, dispute = await _confirmation(request, account)
    await _liaison_judge(request, account, found.site_id)
    data = body(ReviewBody, await read_json(request))
    await _hearing(request, data.hearing_id, dispute)
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
    await _hearing(request, data.hearing_id, dispute)
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
