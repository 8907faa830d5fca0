"""The JSON API under /api/ (routes and bodies as in issue 2 and docs/API.md)."""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from signaling import __version__
from signaling.auth import admin_or_moderator, optional_viewer, require_admin
from signaling.context import Services, services
from signaling.errors import bad_request, not_found
from signaling.openapi import Response, openapi_document, operation
from signaling.roles import Actor
from signaling.schemas import NewHearing, NoFields, RemoveBody, TokenRequest
from signaling.schemas_parse import body
from signaling.schemas_replies import (
    Health,
    Hearing,
    HearingList,
    IssuedToken,
    OpenApiDocument,
    ParticipantReply,
)
from signaling.validation import reject_surrogates

routes = web.RouteTableDef()

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|\x00")


async def read_json(request: web.Request, *, required: bool = True) -> Any:
    """The JSON body; ``{}`` for an absent body where none is required."""
    raw = await request.read()  # bounded by client_max_size (413 beyond it)
    if not raw.strip():
        if required:
            raise bad_request("a JSON request body is required")
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("request body is not valid JSON") from None
    except RecursionError:
        # Arrays or objects nested deeper than the parser's recursion limit: 400, not a 500.
        raise bad_request("request body is JSON nested too deeply") from None
    # Walked only where a surrogate may be (a walk costs more than the parse): an escape of one,
    # its UTF-8 bytes (the parser lets them through), or UTF-16 or -32, which have NUL bytes.
    if _MAYBE_SURROGATE.search(raw):
        reject_surrogates(body)
    return body


@routes.get("/api/health")
@operation("liveness, and what is live now", {200: Health})
async def health(request: web.Request) -> web.Response:
    s = services(request)
    return reply(
        {
            "status": "ok",
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - s.started_at, 1),
            # What is live now; the counters are for /metrics.
            **{k: v for k, v in s.sessions.stats().items() if k in ("live_hearings", "sockets")},
            # With SFU worker processes (--sfu-workers N): how many of them are ready now.
            **({} if s.pool.in_process else {"workers": _workers_ready(s)}),
        }
    )


def _workers_ready(s: Services) -> dict[str, int]:
    ready, total = s.pool.readiness()
    return {"ready": ready, "total": total}


@routes.get("/api/openapi.json")
@operation(
    "this document (OpenAPI 3.1, generated from the routes and their models)",
    {200: Response("the document", OpenApiDocument)},
)
async def openapi(request: web.Request) -> web.Response:
    return reply(openapi_document(request.app, services(request).settings.public_url))


@routes.post("/api/hearings")
@operation(
    "schedule a hearing",
    {201: Response("created", Hearing, {"Location": "the hearing's URL"})},
    security="admin",
    body=NewHearing,
)
async def create_hearing(request: web.Request) -> web.Response:
    s = services(request)
    require_admin(request, s.tokens, s.settings.admin_key)
    hearing = await s.hearings.create(await read_json(request))
    return reply(hearing.to_json(), status=201, headers={"Location": f"/api/hearings/{hearing.id}"})


@routes.get("/api/hearings")
@operation(
    "the hearings in schedule order (public ones only, unless the admin key is given)",
    {200: HearingList},
    security="optional",
)
async def list_hearings(request: web.Request) -> web.Response:
    s = services(request)
    is_admin, _ = await optional_viewer(request, s.tokens, s.settings.admin_key)
    hearings = await s.hearings.list(include_private=is_admin)
    return reply({"hearings": [h.to_json() for h in hearings]})


@routes.get("/api/hearings/{hearing_id}")
@operation(
    "one hearing (not public: admin key or a token of the hearing)",
    {200: Hearing},
    security="optional",
)
async def get_hearing(request: web.Request) -> web.Response:
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    is_admin, token_hearing = await optional_viewer(request, s.tokens, s.settings.admin_key)
    hearing = await s.hearings.get(hearing_id)
    # A hearing that is not public is not even confirmed to exist to those it is not for.
    if not (hearing.public or is_admin or token_hearing == hearing.id):
        raise not_found(f"no hearing with id {hearing_id!r}")
    return reply(hearing.to_json())


async def _moderated(request: web.Request) -> tuple[Services, str, Actor]:
    """(services, hearing id, who acts) for a route on one hearing that needs a moderator: the
    caller must hold the admin key or a judge/clerk token of it, and the hearing must exist.

    Credentials first: otherwise a caller without any could tell real hearing ids (401) from
    unknown ones (404), private hearings included."""
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    actor = await admin_or_moderator(request, hearing_id, s.tokens, s.settings.admin_key)
    await s.hearings.get(hearing_id)
    return s, hearing_id, actor


@routes.post("/api/hearings/{hearing_id}/tokens")
@operation(
    "add a participant and issue its token",
    {201: IssuedToken},
    security="moderator",
    body=TokenRequest,
    errors={409: "the hearing has ended"},
)
async def issue_token(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    issued = await s.hearings.issue_token(hearing_id, await read_json(request), issuer=actor.role)
    base = s.settings.public_url
    participant = issued.participant
    expires = datetime.fromtimestamp(issued.claims.expires_at, UTC).isoformat()
    return reply(
        {
            "token": issued.token,
            "participant_id": participant.id,
            "role": participant.role.value,
            "name": participant.name,
            "admitted": participant.admitted,
            "site": participant.site,
            "masked": participant.masked,
            "expires_at": expires,
            "join_url": f"{base}/join/{hearing_id}?token={quote(issued.token, safe='')}",
            "whip_url": f"{base}/whip/{hearing_id}",
            "whep_url": f"{base}/whep/{hearing_id}",
        },
        status=201,
    )


async def no_body(request: web.Request) -> None:
    """A route that takes no body refuses one with fields: they would be ignored unsaid."""
    body(NoFields, await read_json(request, required=False))


@routes.post("/api/hearings/{hearing_id}/participants/{participant_id}/admit")
@operation(
    "admit a participant from the lobby (or before they arrive)",
    {200: Response("admitted", ParticipantReply)},
    security="moderator",
    body=NoFields,
    body_required=False,
    errors={409: "the participant was removed, or the hearing has ended"},
)
async def admit(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    await no_body(request)
    participant = await s.moderation.admit(hearing_id, request.match_info["participant_id"], actor)
    return reply({"participant": participant})


@routes.post("/api/hearings/{hearing_id}/participants/{participant_id}/remove")
@operation(
    "remove a participant; their token stops working",
    {200: Response("removed", ParticipantReply)},
    security="moderator",
    body=RemoveBody,
    body_required=False,
    errors={409: "the hearing has ended"},
)
async def remove(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    reason = body(RemoveBody, await read_json(request, required=False)).reason
    participant = await s.moderation.remove(
        hearing_id, request.match_info["participant_id"], actor, reason
    )
    return reply({"participant": participant})


@routes.post("/api/hearings/{hearing_id}/end")
@operation(
    "end the hearing; everyone is disconnected",
    {200: Response("ended", Hearing)},
    security="moderator",
    body=NoFields,
    body_required=False,
    errors={409: "the hearing has already ended"},
)
async def end(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    await no_body(request)
    hearing = await s.moderation.end(hearing_id, actor)
    return reply(hearing.to_json())


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
