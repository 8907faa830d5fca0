"""HTTP routes of disputes and the routing ladder (docs/DISPUTES.md): intake, listing with
scoping and overdue flags, transitions, the mediator's appointment and answer, evidence, and
the ladder's rule table.

Every route is for accounts (or the admin key). Credentials are checked first, then the
dispute is looked up (404), then whether the caller may see it (403), then whether they may do
what they ask (403); what the state machine refuses is a 409 from ``DisputeService``.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from signaling.account_auth import account_caller, is_admin, require_roles
from signaling.accounts import Account, AccountRole, accounts_of
from signaling.config import Settings
from signaling.dispute_access import may_add_evidence, may_appoint, may_move
from signaling.dispute_store import DisputeStore
from signaling.disputes import (
    DISPUTES,
    TYPE_LABELS,
    Dispute,
    DisputeParty,
    DisputeService,
    DisputeState,
    HandlerLevel,
    Intake,
    actor_label,
    disputes_of,
    event_json,
    evidence_json,
    new_party_id,
    party_json,
)
from signaling.errors import bad_request, conflict, forbidden, not_found
from signaling.evidence import EvidenceFiles, content_disposition, repr_digest
from signaling.http_api import read_json, reply
from signaling.ladder import LadderVersion
from signaling.openapi import Response, operation
from signaling.replies_disputes import (
    DisputeList,
    DisputeReply,
    EventList,
    EvidenceList,
    LadderReply,
)
from signaling.schemas import NoFields
from signaling.schemas_disputes import (
    DeclineBody,
    DispatchBody,
    DisputesQuery,
    LadderChange,
    LadderQuery,
    MediatorBody,
    NewDispute,
    TransitionBody,
)
from signaling.schemas_parse import body, query
from signaling.sites import SITES, sites_of
from signaling.store import SqliteStore
from signaling.time_limits import TimeLimits

EVIDENCE: web.AppKey[EvidenceFiles] = web.AppKey("evidence", EvidenceFiles)
LIMITS: web.AppKey[TimeLimits] = web.AppKey("time_limits", TimeLimits)

routes = web.RouteTableDef()


def dispute_json(dispute: Dispute, limits: TimeLimits) -> dict[str, Any]:
    """A dispute as every reply shows it: parties' ID numbers and phones masked, its time
    limits and which of them are overdue."""
    deadlines = limits.deadlines(dispute)
    return {
        "id": dispute.id,
        "number": dispute.number,
        "intake_site_id": dispute.intake_site_id,
        "type": dispute.type.value,
        "type_label": TYPE_LABELS[dispute.type],
        "summary": dispute.summary,
        "state": dispute.state.value,
        "handler": dispute.handler.to_json(),
        "mediator_id": dispute.mediator_id,
        "mediator_status": dispute.mediator_status.value if dispute.mediator_status else None,
        "mediator_appointed_at": dispute.mediator_appointed_at,
        "mediator_answered_at": dispute.mediator_answered_at,
        "judge_id": dispute.judge_id,
        "parties": [party_json(p) for p in dispute.parties],
        "received_at": dispute.received_at,
        "created_at": dispute.created_at,
        "updated_at": dispute.updated_at,
        "mediation_ended_at": dispute.mediation_ended_at,
        "ladder_version": dispute.ladder_version,
        "rule_id": dispute.rule_id,
        "on_failure": dispute.on_failure,
        "intake_by": dispute.intake_by,
        "deadlines": [d.to_json() for d in deadlines],
        "overdue": [
            {"limit": d.limit, "due_at": d.due_at} for d in deadlines if d.status == "overdue"
        ],
    }


def _answer(request: web.Request, dispute: Dispute, status: int = 200) -> web.Response:
    return reply(dispute_json(dispute, request.app[LIMITS]), status=status)


async def _seen(request: web.Request) -> tuple[Account | None, Dispute]:
    """The caller and the dispute of the path, which they may see (403 if not)."""
    caller = await account_caller(request)
    service = disputes_of(request)
    dispute = await service.get(request.match_info["dispute_id"])
    if not await service.visible(caller, dispute):
        raise forbidden(f"dispute {dispute.id} is not one of your sites' or yours")
    return caller, dispute


# ------------------------------------------------------------------ intake and listing


@routes.post("/api/disputes")
@operation(
    "take in a dispute at a site (its officer, on the parties' behalf); routed by the ladder",
    {201: DisputeReply},
    security="account",
    body=NewDispute,
    errors={404: "no such site", 409: "the site is retired"},
)
async def create_dispute(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    require_roles(caller, AccountRole.OFFICER)
    data = body(NewDispute, await read_json(request))
    site = await sites_of(request).get(data.intake_site_id)
    if site is None:
        raise not_found(f"no site {data.intake_site_id}")
    if caller is not None and not is_admin(caller) and site.officer_id != caller.id:
        raise forbidden(f"only the officer of site {site.id} takes in disputes there")
    parties = tuple(
        DisputeParty(
            id=new_party_id(),
            side=p.side,
            name=p.name,
            id_number=p.id_number,
            phone=p.phone,
            address=p.address,
            village=p.village,
            township=p.township,
            consents=p.consents.model_dump(),
        )
        for p in data.parties
    )
    dispute = await disputes_of(request).intake(
        Intake(site.id, data.type, data.summary, parties, data.received_at), actor_label(caller)
    )
    return _answer(request, dispute, 201)


@routes.get("/api/disputes")
@operation(
    "the disputes the caller may see (officer: their site's; judge: their sites'; mediator: "
    "those they mediate; command and admin: all), newest first",
    {200: DisputeList},
    security="account",
    query=DisputesQuery,
)
async def list_disputes(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    wanted = query(DisputesQuery, request.query)
    found = await disputes_of(request).listing(caller, state=wanted.state, site_id=wanted.site_id)
    limits = request.app[LIMITS]
    items = [dispute_json(d, limits) for d in found]
    if wanted.only_overdue():
        items = [item for item in items if item["overdue"]]
    return reply({"disputes": items})


@routes.get("/api/disputes/{dispute_id}")
@operation("one dispute, with its time limits", {200: DisputeReply}, security="account")
async def get_dispute(request: web.Request) -> web.Response:
    _, dispute = await _seen(request)
    return _answer(request, dispute)


@routes.get("/api/disputes/{dispute_id}/events")
@operation(
    "the dispute's log: every transition and appointment, who, when and why",
    {200: EventList},
    security="account",
)
async def dispute_events(request: web.Request) -> web.Response:
    _, dispute = await _seen(request)
    events = await disputes_of(request).events(dispute.id)
    return reply({"events": [event_json(e) for e in events]})


# ------------------------------------------------------------------ moving it along


@routes.post("/api/disputes/{dispute_id}/transitions")
@operation(
    "move the dispute along the ladder, with a reason (required to escalate and to fail)",
    {200: DisputeReply},
    security="account",
    body=TransitionBody,
    errors={409: "the state machine does not allow that move from the dispute's state"},
)
async def transition(request: web.Request) -> web.Response:
    caller, dispute = await _seen(request)
    wanted = body(TransitionBody, await read_json(request))
    service = disputes_of(request)
    # What the machine refuses is refused to all alike (409), before who may ask (403).
    service.check_move(dispute, wanted.to, wanted.reason or "")
    if wanted.to is DisputeState.HEARING_SCHEDULED:
        # Scheduled only together with the hearing it is scheduled for: never one without it.
        raise conflict(
            f"a dispute is scheduled for hearing by linking its hearing: "
            f"POST /api/disputes/{dispute.id}/hearing"
        )
    if not await may_move(caller, dispute, wanted.to, service):
        raise forbidden(
            f"you may not move dispute {dispute.id} from {dispute.state.value} to {wanted.to.value}"
        )
    # A judge who takes a dispute up guides it themselves (by default the intake site's
    # liaison judge does: a police or association dispute's judge may be another site's).
    detail = (
        {"judge_id": caller.id} if caller is not None and caller.role is AccountRole.JUDGE else None
    )
    moved = await service.transition(
        dispute.id, wanted.to, actor_label(caller), wanted.reason or "", detail
    )
    return _answer(request, moved)


@routes.post("/api/disputes/{dispute_id}/dispatch")
@operation(
    "the command center hands a dispute it mediates to a site (分流), with an optional reason",
    {200: DisputeReply},
    security="account",
    body=DispatchBody,
    errors={409: "the dispute is not in the command center's mediation"},
)
async def dispatch(request: web.Request) -> web.Response:
    caller, dispute = await _seen(request)
    wanted = body(DispatchBody, await read_json(request))
    require_roles(caller, AccountRole.COMMAND)
    dispatched = await disputes_of(request).dispatch(
        dispute.id, wanted.site_id, actor_label(caller), wanted.reason or ""
    )
    return _answer(request, dispatched)


@routes.post("/api/disputes/{dispute_id}/mediator")
@operation(
    "appoint the dispute's mediator (SPC 2021 Arts. 10–15: within 3 working days of intake)",
    {200: DisputeReply},
    security="account",
    body=MediatorBody,
    errors={409: "not being mediated, or the mediator has accepted already"},
)
async def appoint(request: web.Request) -> web.Response:
    caller, dispute = await _seen(request)
    wanted = body(MediatorBody, await read_json(request))
    service = disputes_of(request)
    if not await may_appoint(caller, dispute, service):
        raise forbidden(f"you may not appoint the mediator of dispute {dispute.id}")
    mediator = await accounts_of(request).get(wanted.mediator_id)
    if mediator is None or mediator.role is not AccountRole.MEDIATOR or not mediator.active:
        raise bad_request("'mediator_id' must name an active mediator account")
    if dispute.handler.level is HandlerLevel.SITE and dispute.handler.site_id is not None:
        site = await sites_of(request).get(dispute.handler.site_id)
        if site is not None and mediator.id not in site.mediator_ids:
            raise bad_request(
                f"'mediator_id': {mediator.id} is not a mediator of site {site.id}, which "
                "mediates this dispute"
            )
    appointed = await service.appoint_mediator(dispute.id, mediator.id, actor_label(caller))
    return _answer(request, appointed)


async def _answer_appointment(request: web.Request, accept: bool) -> web.Response:
    caller, dispute = await _seen(request)
    if accept:
        body(NoFields, await read_json(request, required=False))
        reason = ""
    else:
        reason = body(DeclineBody, await read_json(request)).reason
    if caller is not None and not is_admin(caller) and caller.id != dispute.mediator_id:
        raise forbidden(f"only the appointed mediator answers dispute {dispute.id}'s appointment")
    answered = await disputes_of(request).answer_mediator(
        dispute.id,
        accept,
        None if caller is None or is_admin(caller) else caller.id,
        actor_label(caller),
        reason,
    )
    return _answer(request, answered)


@routes.post("/api/disputes/{dispute_id}/mediator/accept")
@operation(
    "the appointed mediator accepts (SPC 2021 Arts. 10–15: within 3 working days)",
    {200: DisputeReply},
    security="account",
    body=NoFields,
    body_required=False,
    errors={409: "no appointment waiting for an answer"},
)
async def accept(request: web.Request) -> web.Response:
    return await _answer_appointment(request, True)


@routes.post("/api/disputes/{dispute_id}/mediator/decline")
@operation(
    "the appointed mediator declines, with a reason; a new mediator is then due",
    {200: DisputeReply},
    security="account",
    body=DeclineBody,
    errors={409: "no appointment waiting for an answer"},
)
async def decline(request: web.Request) -> web.Response:
    return await _answer_appointment(request, False)


# ------------------------------------------------------------------ evidence


@routes.post("/api/disputes/{dispute_id}/evidence")
@operation(
    "upload evidence files (multipart/form-data, one part per file, each at most 50 MiB); "
    "each is stored with its SHA-256",
    {201: EvidenceList},
    security="account",
    errors={
        400: "not multipart/form-data, a part without a file name, or a malformed body",
        413: "a file over 50 MiB, over 200 MiB in all, or over 20 files",
        500: "the server's disk cannot store the files; nothing was recorded",
    },
)
async def upload_evidence(request: web.Request) -> web.Response:
    caller, dispute = await _seen(request)
    service = disputes_of(request)
    if not await may_add_evidence(caller, dispute, service):
        raise forbidden(f"you may not add evidence to dispute {dispute.id}")
    items = await request.app[EVIDENCE].receive(request, dispute.id, actor_label(caller))
    for item in items:
        await service.add_evidence(item)
    return reply({"evidence": [evidence_json(i) for i in items]}, status=201)


@routes.get("/api/disputes/{dispute_id}/evidence")
@operation(
    "the dispute's evidence files, with their SHA-256", {200: EvidenceList}, security="account"
)
async def list_evidence(request: web.Request) -> web.Response:
    _, dispute = await _seen(request)
    items = await disputes_of(request).evidence(dispute.id)
    return reply({"evidence": [evidence_json(i) for i in items]})


@routes.get("/api/disputes/{dispute_id}/evidence/{evidence_id}")
@operation(
    "download one evidence file, re-checked against its SHA-256 first",
    {
        200: Response(
            "the file as uploaded",
            "application/octet-stream",
            {
                "Repr-Digest": "sha-256=:<base64>: (RFC 9530), the file's SHA-256",
                "Content-Disposition": "attachment, with the file's name",
            },
        )
    },
    security="account",
    errors={409: "the stored file is missing or no longer matches its SHA-256 (not served)"},
)
async def download_evidence(request: web.Request) -> web.StreamResponse:
    _, dispute = await _seen(request)
    item = await disputes_of(request).evidence_item(dispute.id, request.match_info["evidence_id"])
    path = await request.app[EVIDENCE].verified(item)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": item.media_type,
            "Content-Disposition": content_disposition(item.filename),
            "Repr-Digest": repr_digest(item.sha256),
            "ETag": f'"{item.sha256}"',
            "Cache-Control": "private, no-store",
            # Evidence is whatever a party brought: never run as a page of this origin.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


# ------------------------------------------------------------------ the ladder


async def _ladder_json(service: DisputeService, current: LadderVersion) -> dict[str, Any]:
    history = await service.ladder_history()
    return {**current.to_json(), "history": [v.summary_json() for v in history]}


@routes.get("/api/ladder")
@operation(
    "the routing ladder in force (the rule table, first match wins), or an earlier version, "
    "and the list of versions",
    {200: LadderReply},
    security="account",
    query=LadderQuery,
    errors={404: "no such version"},
)
async def get_ladder(request: web.Request) -> web.Response:
    await account_caller(request)
    wanted = query(LadderQuery, request.query)
    service = disputes_of(request)
    if wanted.version is None:
        return reply(await _ladder_json(service, await service.ladder()))
    for version in await service.ladder_history():
        if version.version == wanted.version:
            return reply(await _ladder_json(service, version))
    raise not_found(f"the ladder has no version {wanted.version}")


@routes.put("/api/ladder")
@operation(
    "replace the routing ladder (admin): a new version; disputes taken in before keep theirs",
    {200: LadderReply},
    security="account",
    body=LadderChange,
)
async def put_ladder(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    require_roles(caller)
    change = body(LadderChange, await read_json(request))
    service = disputes_of(request)
    version = await service.set_ladder(change.ladder(), actor_label(caller), change.note)
    return reply(await _ladder_json(service, version))


def add_routes(app: web.Application, store: SqliteStore, settings: Settings) -> None:
    app[DISPUTES] = DisputeService(DisputeStore(store), lambda: app[SITES])
    app[EVIDENCE] = EvidenceFiles(settings.data_dir / "evidence")
    app[LIMITS] = TimeLimits(ZoneInfo(settings.timezone), settings.holidays)
    app.add_routes(routes)
