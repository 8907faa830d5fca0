"""What the server holds in memory for one hearing in session: connections, playbacks, mutes,
raised hands, rooms, SFU room.

The parts (``presence``, ``moderation``, ``whip_sessions``, ``expiry``) change this state under
``HearingSession.lock``, taken through ``registry.SessionRegistry``; this module only describes it
and says when an entry holds nothing worth keeping.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from signaling.models import Participant
from signaling.mutes import MuteState
from signaling.roles import Grants
from signaling.rooms import RoomBook, visible
from signaling.sfu_listeners import publication_json
from signaling.workers import PeerHandle, RoomHandle

# WHEP playbacks one participant may have at a time. Each is an SFU peer with its own ICE/DTLS
# and forwarding; a few cover a participant watching on several screens, more is a runaway client.
MAX_WHEPS_PER_PARTICIPANT = 4


def hearing_room(hearing_id: str) -> str:
    return f"hearing:{hearing_id}"


def moderators_room(hearing_id: str) -> str:
    return f"moderators:{hearing_id}"


class Via(StrEnum):
    SOCKET = "socket"
    WHIP = "whip"


class LeftReason(StrEnum):
    """The ``reason`` of ``participant_left`` (docs/PROTOCOL.md lists each one)."""

    LEFT = "left"  # the participant said `leave`, or DELETEd its WHIP session
    DISCONNECTED = "disconnected"  # the socket went away
    REMOVED = "removed"  # a moderator removed them (or denied them, but then they were unlisted)
    REPLACED = "replaced"  # a newer socket or WHIP publish of the same participant took over
    CONNECTION_LOST = "connection_lost"  # a WHIP publisher's media stopped
    FAILED = "failed"  # their join or publish could not be completed and was undone
    EXPIRED = "expired"  # their token expired while they were connected
    # Sent to those who no longer share a room with them (they were moved elsewhere, or to the
    # lobby): gone from their list, not from the hearing.
    MOVED = "moved"


@dataclass(eq=False)
class Connection:
    """A participant's presence: one socket, or one WHIP publish. One per participant."""

    participant: Participant
    via: Via
    # The token's expiry (Unix seconds): the presence ends then, however long it has lasted.
    expires_at: int
    sid: str | None = None
    resource_id: str | None = None
    peer: PeerHandle | None = None
    # Admitted and present: listed to others, in the hearing's Socket.IO room, has an SFU peer.
    in_room: bool = False
    # When this presence began (time.monotonic()): how long someone has waited in the lobby.
    since: float = field(default_factory=time.monotonic)

    @property
    def grants(self) -> Grants:
        # The participant's own: its role in this kind of hearing (a mediator leads a mediation).
        return self.participant.grants


@dataclass(eq=False)
class WhepPlayback:
    """A WHEP playback. Not a presence: it is not listed and does not displace the participant's
    socket, so a participant may watch over WHEP while also being in the hearing."""

    resource_id: str
    participant: Participant
    peer: PeerHandle
    expires_at: int


class HearingSession:
    """One hearing in session: who is present, who plays back over WHEP, what is muted, whose
    hand is up, and its SFU room, with the lock that every change of these is made under."""

    def __init__(self, hearing_id: str, mutes: dict[str, MuteState]) -> None:
        self.id = hearing_id
        self.room_name = hearing_room(hearing_id)
        self.moderators_name = moderators_room(hearing_id)
        self.lock = asyncio.Lock()
        self.connections: dict[str, Connection] = {}
        self.playbacks: dict[str, WhepPlayback] = {}
        # Owned by the registry so that mutes outlive an idle entry (see SessionRegistry._mutes).
        self.mutes = mutes
        # Participants asking to speak: for the moderators only. Whoever leaves drops their hand,
        # so an idle entry has none to keep.
        self.hands: set[str] = set()
        # The hearing's rooms (main, witness, private) and who is in which (signaling/rooms.py);
        # not to be confused with `room`, the SFU's room that carries the whole hearing's media.
        self.rooms = RoomBook()
        self.room: RoomHandle | None = None
        # Set by `end`. Callers that were waiting for the lock meanwhile must not start anything:
        # they hold this (by then discarded) entry, and a new SFU room made for it would leak.
        self.closed = False
        # Callers holding or waiting for the lock: the entry must not be discarded under them.
        self.users = 0

    def idle(self) -> bool:
        """Nothing here to keep: nobody connected, playing back, being set up or waiting, and no
        private room open (its members come back to it)."""
        busy = self.users or self.connections or self.playbacks or self.room is not None
        return not (busy or self.rooms.private_rooms())

    def mute_state(self, participant_id: str) -> MuteState:
        return self.mutes.setdefault(participant_id, MuteState())

    def participant_json(self, participant: Participant) -> dict[str, Any]:
        return participant.to_json(muted=self.mute_state(participant.id).to_json())

    def present(self, viewer: Connection) -> list[dict[str, Any]]:
        """The participant list ``viewer`` is given: a non-moderator's shows only their room."""
        return [
            self.participant_json(c.participant)
            for c in self.connections.values()
            if c.in_room and not c.grants.hidden and visible(self, viewer, c.participant.id)
        ]

    def waiting(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [
            {**self.participant_json(c.participant), "waited_seconds": int(now - c.since)}
            for c in self.connections.values()
            if c.via is Via.SOCKET and not c.in_room
        ]

    def publications(self, viewer: Connection) -> list[dict[str, Any]]:
        """The publications ``viewer`` is told of: those of whom they see (or are)."""
        if self.room is None:
            return []
        own = viewer.participant.id
        return [
            publication_json(p)
            for p in self.room.publications.values()
            if p.peer_id == own or visible(self, viewer, p.peer_id)
        ]

    def playbacks_of(self, participant_id: str) -> list[WhepPlayback]:
        return [p for p in self.playbacks.values() if p.participant.id == participant_id]
