"""Rooms within a hearing (docs/ROOMS.md): what clients send, over HTTP and Socket.IO, and what
the HTTP routes answer (the answers' models are for the OpenAPI document, as in
``schemas_replies``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import RootModel

from signaling.schemas import _RECORDABLE, _TRIMMED, Id, Strict, _length
from signaling.schemas_replies import Reply

# A private room's name: the text rule of every name, at most 40 characters (a console's tab).
RoomName = Annotated[str, _length(40), _TRIMMED, _RECORDABLE]


class NewRoom(Strict):
    name: RoomName


class MoveBody(Strict):
    # "main", "witness", a private room's id ("r_…"), or "lobby" (back to waiting).
    room: Id


class WatchBody(Strict):
    watching: bool


# Socket.IO payloads (signaling/schemas_socket.py lists them with the other events).
class CloseRoom(Strict):
    room_id: Id


class Move(Strict):
    participant_id: Id
    room_id: Id


class WatchRoom(Strict):
    room_id: Id
    watching: bool


# Answers.
class Member(Reply):
    participant_id: str
    since: str


class RoomReply(Reply):
    id: str
    kind: Literal["main", "witness", "private"]
    name: str
    opened_by: str | None
    opened_at: str | None
    recorded: bool
    members: list[Member]


class RoomList(Reply):
    rooms: list[RoomReply]


class RoomClosed(Reply):
    closed: str
    moved: list[str]


class MovedToLobby(Reply):
    room: Literal["lobby"]


class MoveReply(RootModel[RoomReply | MovedToLobby]):
    """The room the participant is in now, or ``{"room": "lobby"}``."""


class Watching(Reply):
    watching: list[str]
