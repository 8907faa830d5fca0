"""Which of a hearing's rooms the public sees: the main room only (docs/ROOMS.md).

The control plane decides who is in which room and tells the sidecars every change
(`room_changed`, rooms-protocol "Sidecars"); this is the livestream's own record of it, per
hearing, for the composite: someone moved out of the main room (into a private room, the witness
room, back to the lobby) leaves the picture and the sound, and comes back when they return. While
a private room is open and no moderator is in the main room, the hearing is in recess (a caucus,
counsel with a client): the public sees a card, never a private room and nobody left waiting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAIN = "main"
WITNESS = "witness"
LOBBY = "lobby"  # sent back to wait: in no room
RECESS_TEXT = "休庭/调解中"
# Who runs a room. A mediator moderates only a mediation hearing; one in the main room of a court
# hearing while the judge holds a caucus still shows the main room, which is public anyway.
MODERATORS = frozenset({"judge", "clerk", "mediator"})


def first_room(role: str) -> str:
    """Where an admitted participant starts (as signaling places them): a witness waits in the
    witness room until called, everyone else is in the main room."""
    return WITNESS if role == WITNESS else MAIN


class HearingRooms:
    """Everyone the stream has heard of in one hearing: their room and their role."""

    def __init__(self) -> None:
        self._room: dict[str, str] = {}  # participant id -> room id, or LOBBY
        self._role: dict[str, str] = {}
        self._private: set[str] = set()  # open private rooms

    def met(self, participant_id: str, role: str) -> None:
        """A participant published: their role, and their room: the one the last move put them
        in, or for someone never moved (or admitted again since the lobby) their first room."""
        self._role[participant_id] = role
        if self._room.get(participant_id, LOBBY) == LOBBY:
            self._room[participant_id] = first_room(role)

    def restore(self, members: dict[str, str], private: Iterable[str]) -> None:
        """Everyone's room and the open private rooms, all at once (a restarted livestream)."""
        self._room = dict(members)
        self._private = set(private)

    def apply(self, change: dict[str, Any]) -> None:
        """One `room_changed` change: a move, or a room opened or closed."""
        action, room = change.get("action"), change.get("room") or {}
        room_id = room.get("id") if isinstance(room, dict) else None
        if action == "move" and isinstance(change.get("participant"), str):
            target = change.get("to")
            self._room[change["participant"]] = target if isinstance(target, str) else LOBBY
        elif action == "open" and isinstance(room_id, str) and room.get("kind") == "private":
            self._private.add(room_id)
        elif action == "close" and isinstance(room_id, str):
            self._private.discard(room_id)
            for pid, where in self._room.items():
                if where == room_id:
                    self._room[pid] = MAIN  # a closed room's members go back to the main room

    def in_main(self, participant_id: str) -> bool:
        return self._room.get(participant_id, MAIN) == MAIN

    @property
    def recess(self) -> bool:
        """A private room is open and no moderator the stream knows of is in the main room."""
        return bool(self._private) and not any(
            role in MODERATORS and self.in_main(pid) for pid, role in self._role.items()
        )
