"""HTTP routes of a dispute's mediation sessions and of the court hearing of a filed dispute
(docs/MEDIATION.md). Who may do what is ``DisputeSessions``'s to decide; here the requests are
read (signaling/schemas_sessions.py) and the answers shaped (signaling/replies_sessions.py).

Credentials come first on every route (an account session or the admin key, 401 otherwise),
then the dispute (404), then whether the caller may see it and do this (403).
"""

from __future__ import annotations

from aiohttp import web

from signaling.account_auth import account_caller
from signaling.context import services
from signaling.dispute_sessions import SESSIONS, DisputeSessions, sessions_of
from signaling.http_api import no_body, read_json, reply
from signaling.openapi import Response, operation
from signaling.replies_sessions import (
    DisputeHearingReply,
    JudgeCalledIn,
    MediationSessionCreated,
    MediationSessionList,
    SeatToken,
)
from signaling.schemas import NoFields
from signaling.schemas_parse import body
from signaling.schemas_sessions import DisputeHearingLink, NewMediationSession

routes = web.RouteTableDef()


def _public_url(request: web.Request) -> str:
    return services(request).settings.public_url


@routes.post("/api/disputes/{dispute_id}/sessions")
@operation(
    "hold a mediation session of the dispute (a hearing of kind mediation, led by its mediator)",
    {201: Response("the session, and the tokens the caller may hand out", MediationSessionCreated)},
    security="account",
    body=NewMediationSession,
    body_required=False,
    errors={409: "the dispute is not in mediation, or has no mediator"},
)
async def create_session(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    new = body(NewMediationSession, await read_json(request, required=False))
    session, tokens = await sessions_of(request).create(
        caller, request.match_info["dispute_id"], new
    )
    base = _public_url(request)
    return reply(
        {"session": session, "tokens": [t.to_json(base) for t in tokens]},
        status=201,
        headers={"Location": f"/api/hearings/{session['hearing']['id']}"},
    )


@routes.get("/api/disputes/{dispute_id}/sessions")
@operation(
    "the dispute's mediation sessions with their seats (no tokens)",
    {200: MediationSessionList},
    security="account",
)
async def list_sessions(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    dispute_id = request.match_info["dispute_id"]
    sessions = await sessions_of(request).list(caller, dispute_id)
    return reply({"dispute_id": dispute_id, "sessions": sessions})


@routes.post("/api/disputes/{dispute_id}/sessions/{hearing_id}/call-judge")
@operation(
    "call the dispute's liaison judge into the session (a judge's seat; its token to the judge)",
    {200: JudgeCalledIn},
    security="account",
    body=NoFields,
    body_required=False,
    errors={409: "the session has ended, or the dispute has no liaison judge"},
)
async def call_judge(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    await no_body(request)
    session, token = await sessions_of(request).call_judge(
        caller, request.match_info["dispute_id"], request.match_info["hearing_id"]
    )
    minted = token.to_json(_public_url(request)) if token is not None else None
    return reply({"session": session, "token": minted})


@routes.post("/api/disputes/{dispute_id}/sessions/{hearing_id}/token")
@operation(
    "a token for the caller's own seat in the session (the mediator's, the judge called in)",
    {200: SeatToken},
    security="account",
    body=NoFields,
    body_required=False,
    errors={409: "the session has ended"},
)
async def my_token(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    await no_body(request)
    minted = await sessions_of(request).my_token(
        caller, request.match_info["dispute_id"], request.match_info["hearing_id"]
    )
    return reply(minted.to_json(_public_url(request)))


@routes.post("/api/disputes/{dispute_id}/hearing")
@operation(
    "schedule the court hearing of a filed dispute (an existing one or a new one); "
    "the dispute moves filed → hearing_scheduled",
    {201: DisputeHearingReply},
    security="account",
    body=DisputeHearingLink,
    errors={409: "the dispute is not filed; the hearing has ended, is a mediation or is taken"},
)
async def link_hearing(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    wanted = body(DisputeHearingLink, await read_json(request))
    dispute, hearing = await sessions_of(request).link_hearing(
        caller, request.match_info["dispute_id"], wanted
    )
    return reply(
        {
            "dispute_id": dispute.id,
            "dispute_state": dispute.state.value,
            "hearing": hearing.to_json(),
        },
        status=201,
    )


@routes.get("/api/disputes/{dispute_id}/hearing")
@operation(
    "the court hearing scheduled for the dispute",
    {200: DisputeHearingReply},
    security="account",
)
async def get_hearing(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    dispute, hearing = await sessions_of(request).hearing_of(
        caller, request.match_info["dispute_id"]
    )
    return reply(
        {
            "dispute_id": dispute.id,
            "dispute_state": dispute.state.value,
            "hearing": hearing.to_json(),
        }
    )


def add_routes(app: web.Application, sessions: DisputeSessions) -> None:
    app[SESSIONS] = sessions
    app.add_routes(routes)
