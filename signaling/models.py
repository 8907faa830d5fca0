"""The records the control plane keeps: Hearing and Participant."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from signaling.roles import Role


class HearingState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"  # someone has come in; the judge has not
    IN_SESSION = "in_session"  # the judge has joined
    ENDED = "ended"


class ParticipantState(StrEnum):
    LOBBY = "lobby"  # not admitted (whether connected or not)
    ADMITTED = "admitted"
    LEFT = "left"  # was admitted, went away; may come back without the lobby
    REMOVED = "removed"  # removed or denied; the token no longer works


def new_hearing_id() -> str:
    return "h_" + secrets.token_hex(8)


def new_participant_id() -> str:
    return "p_" + secrets.token_hex(8)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Hearing:
    id: str
    case_number: str
    title: str
    court: str
    case_type: str
    public: bool
    scheduled_at: str  # ISO 8601, as normalised by datetime.isoformat()
    state: HearingState
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_number": self.case_number,
            "title": self.title,
            "court": self.court,
            "case_type": self.case_type,
            "public": self.public,
            "scheduled_at": self.scheduled_at,
            "state": self.state.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    hearing_id: str
    name: str
    role: Role
    state: ParticipantState
    # Kept apart from state because "left" does not say whether the lobby was passed, and a
    # participant admitted before they connect must skip the lobby when they come.
    admitted: bool
    revoked: bool
    created_at: str

    def to_json(self, muted: dict[str, bool] | None = None) -> dict[str, Any]:
        """The PROTOCOL.md Participant object; ``muted`` comes from the live session."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "state": self.state.value,
            "muted": muted or {"audio": False, "video": False},
        }
