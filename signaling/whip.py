"""WHIP ingest (RFC 9725) and WHEP playback over HTTP, for encoders, ffmpeg and players.

Each POST creates a session whose URL (the ``Location``) is unguessable; DELETE on it ends the
session. Trickle ICE (PATCH) is not offered: the router answers 405 with a JSON error.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from signaling.auth import bearer
from signaling.context import Services, services
from signaling.errors import bad_request
from signaling.live_state import MAX_WHEPS_PER_PARTICIPANT
from signaling.openapi import SDP, HandlerT, Response, operation
from signaling.schemas import WhepQuery
from signaling.schemas_parse import query

routes = web.RouteTableDef()

_SESSION_CREATED = Response(
    "session created; the body is the SDP answer",
    SDP,
    {"Location": "the session's URL (DELETE ends it)", "ETag": "the session's entity tag"},
)


def _too_large(size: int, limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit, actual_size=size, text=f"the SDP offer is larger than {limit} bytes"
    )


async def read_sdp(request: web.Request, limit: int) -> str:
    if request.content_type != SDP:
        raise web.HTTPUnsupportedMediaType(
            text=f"Content-Type must be {SDP}, not {request.content_type or 'missing'}",
        )
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(request.content_length, limit)
    raw = await request.read()
    if len(raw) > limit:
        raise _too_large(len(raw), limit)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise bad_request("the SDP offer is not valid UTF-8") from None
    if not text.strip():
        raise bad_request("the request body must be an SDP offer")
    return text


def _answer(kind: str, hearing_id: str, resource_id: str, sdp: str) -> web.Response:
    return web.Response(
        status=201,
        text=sdp,
        content_type=SDP,
        headers={
            "Location": f"/{kind}/{hearing_id}/{resource_id}",
            "ETag": f'"{resource_id}"',
        },
    )


async def _offer(request: web.Request) -> tuple[Services, str, str, str | None]:
    """(services, hearing id, SDP offer, bearer token) of a WHIP or WHEP POST."""
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    sdp = await read_sdp(request, s.settings.max_sdp_bytes)
    return s, hearing_id, sdp, bearer(request)


@routes.post("/whip/{hearing_id}")
@operation(
    "WHIP publish (RFC 9725)",
    {201: _SESSION_CREATED},
    security="participant",
    body="sdp",
    errors={409: "the hearing has ended"},
)
async def whip_post(request: web.Request) -> web.Response:
    s, hearing_id, sdp, token = await _offer(request)
    resource_id, answer = await s.whip_whep.whip_publish(hearing_id, token, sdp)
    return _answer("whip", hearing_id, resource_id, answer)


@routes.post("/whep/{hearing_id}")
@operation(
    "WHEP playback of one participant (default: the judge)",
    {201: _SESSION_CREATED},
    security="participant",
    body="sdp",
    query=WhepQuery,
    errors={
        409: "the hearing has ended, or the participant already has "
        f"{MAX_WHEPS_PER_PARTICIPANT} playbacks"
    },
)
async def whep_post(request: web.Request) -> web.Response:
    source = query(WhepQuery, request.query).participant
    s, hearing_id, sdp, token = await _offer(request)
    resource_id, answer = await s.whip_whep.whep_play(hearing_id, token, sdp, source)
    return _answer("whep", hearing_id, resource_id, answer)


async def _delete(request: web.Request, kind: str) -> web.Response:
    s = services(request)
    await s.whip_whep.delete_resource(
        request.match_info["hearing_id"], request.match_info["resource_id"], kind
    )
    return web.Response(status=200)


def _delete_operation(kind: str) -> Callable[[HandlerT], HandlerT]:
    return operation(f"end a {kind} session", {200: "ended"})


@routes.delete("/whip/{hearing_id}/{resource_id}")
@_delete_operation("WHIP")
async def whip_delete(request: web.Request) -> web.Response:
    return await _delete(request, "whip")


@routes.delete("/whep/{hearing_id}/{resource_id}")
@_delete_operation("WHEP")
async def whep_delete(request: web.Request) -> web.Response:
    return await _delete(request, "whep")


def _options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Accept-Post": SDP, "Allow": "OPTIONS, POST"})


def _options_operation(kind: str) -> Callable[[HandlerT], HandlerT]:
    return operation(
        f"{kind} capabilities",
        {204: Response("what the endpoint takes", None, {"Accept-Post": SDP, "Allow": "methods"})},
    )


@routes.options("/whip/{hearing_id}")
@_options_operation("WHIP")
async def whip_options(request: web.Request) -> web.Response:
    return _options(request)


@routes.options("/whep/{hearing_id}")
@_options_operation("WHEP")
async def whep_options(request: web.Request) -> web.Response:
    return _options(request)


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
