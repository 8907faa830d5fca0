"""Rooms within a hearing over HTTP, for the court's own systems (docs/API.md, docs/ROOMS.md):
list, open and close rooms, move a participant, look into a room. The browsers use the Socket.IO
events of the same actions (signaling/rooms_actions.py)."""

from __future__ import annotations

from aiohttp import web

from signaling.auth import admin_or_moderator
from signaling.context import Services, services
from signaling.http_api import read_json, reply
from signaling.openapi import Response, operation
from signaling.roles import Actor
from signaling.schemas_parse import body
from signaling.schemas_rooms import (
    MoveBody,
    MoveReply,
    NewRoom,
    RoomClosed,
    RoomList,
    RoomReply,
    WatchBody,
    Watching,
)

routes = web.RouteTableDef()

_ENDED = {409: "the hearing has ended"}


async def _moderated(request: web.Request) -> tuple[Services, str, Actor]:
    """Credentials first (a caller without any learns nothing of which hearings exist), then
    the hearing (404)."""
    s = services(request)
    hearing_id = request.match_info["hearing_id"]
    actor = await admin_or_moderator(request, hearing_id, s.tokens, s.settings.admin_key)
    await s.hearings.get(hearing_id)
    return s, hearing_id, actor


@routes.get("/api/hearings/{hearing_id}/rooms")
@operation(
    "the hearing's open rooms and who is in each now",
    {200: RoomList},
    security="moderator",
    errors=_ENDED,
)
async def list_rooms(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    return reply({"rooms": await s.moderation.rooms.list(hearing_id, actor)})


@routes.post("/api/hearings/{hearing_id}/rooms")
@operation(
    "open a private room (a caucus, counsel with a client)",
    {201: Response("opened", RoomReply)},
    security="moderator",
    body=NewRoom,
    errors={409: "eight private rooms are open already, or the hearing has ended"},
)
async def open_room(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    name = body(NewRoom, await read_json(request)).name
    return reply(await s.moderation.rooms.open(hearing_id, actor, name), status=201)


@routes.delete("/api/hearings/{hearing_id}/rooms/{room_id}")
@operation(
    "close a private room; its members go back to the main room",
    {200: RoomClosed},
    security="moderator",
    errors={
        404: "no such room is open",
        409: "the main room and the witness room cannot be closed, or the hearing has ended",
    },
)
async def close_room(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    closed = await s.moderation.rooms.close(hearing_id, actor, request.match_info["room_id"])
    return reply(closed)


@routes.post("/api/hearings/{hearing_id}/participants/{participant_id}/room")
@operation(
    "move a participant to another room, with immediate effect (or back to the lobby)",
    {200: Response("the room they are in now, or the lobby", MoveReply)},
    security="moderator",
    body=MoveBody,
    errors={
        404: "no such participant, or the room is not open",
        409: "the participant is not in the hearing now, or the hearing has ended",
    },
)
async def move(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    room_id = body(MoveBody, await read_json(request)).room
    participant_id = request.match_info["participant_id"]
    return reply(await s.moderation.rooms.move(hearing_id, actor, participant_id, room_id))


@routes.put("/api/hearings/{hearing_id}/rooms/{room_id}/watch")
@operation(
    "look into a room without moving (a moderator's own; the witness room by default)",
    {200: Watching},
    security="moderator",
    body=WatchBody,
    errors={
        400: "the admin key is no participant: only a participant can watch a room",
        404: "no such room is open",
        409: "the hearing has ended",
    },
)
async def watch(request: web.Request) -> web.Response:
    s, hearing_id, actor = await _moderated(request)
    watching = body(WatchBody, await read_json(request)).watching
    room_id = request.match_info["room_id"]
    return reply(await s.moderation.rooms.watch(hearing_id, actor, room_id, watching))


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
