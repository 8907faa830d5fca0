"""The records the control plane keeps: Hearing and Participant."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# HearingKind is defined beside the grants it decides and re-exported as a hearing's field.
from signaling.roles import Grants, Role, grants_for
from signaling.roles import HearingKind as HearingKind


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


def utc_iso(moment: datetime) -> str:
    """An aware datetime as UTC ISO 8601, the form ``scheduled_at`` is stored in."""
    return moment.astimezone(UTC).isoformat()


def _read_schedule(text: str) -> datetime | None:
    """A stored ``scheduled_at`` as an aware datetime. Records from before an offset was required
    may lack one (or the time of day): those are read as UTC; None if it is no date at all."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def schedule_order(text: str) -> tuple[int, str]:
    """Sort key putting ``scheduled_at`` values in chronological order, whatever offset they
    were written with; values that are no date come last."""
    moment = _read_schedule(text)
    if moment is None:
        return (1, text)
    try:
        return (0, utc_iso(moment))
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00, past datetime's range in UTC
        return (0 if moment.year > 1 else -1, text)


def schedule_json(text: str) -> str:
    """``scheduled_at`` as the API shows it: UTC when the record says which moment it is, else as
    it was stored (an old record without an offset is not guessed into one)."""
    try:
        moment = datetime.fromisoformat(text)
        return utc_iso(moment) if moment.tzinfo is not None else text
    except (ValueError, OverflowError):
        return text


@dataclass(frozen=True, slots=True)
class Hearing:
    id: str
    case_number: str
    title: str
    court: str
    case_type: str
    public: bool
    # UTC ISO 8601 (schemas.Moment). Rows written before that was required may
    # hold another offset, no offset or a bare date; see schedule_json and schedule_order.
    scheduled_at: str
    state: HearingState
    created_at: str
    updated_at: str
    # When the session began (the judge's first arrival) and when the hearing ended; None until
    # then, and for hearings ended before these were recorded (schema version 1).
    started_at: str | None = None
    ended_at: str | None = None
    # A court hearing or a mediation session (led by the mediator); schema step 7.
    kind: HearingKind = HearingKind.HEARING
    # The dispute the session or hearing is held for (signaling/dispute_sessions.py), if any.
    dispute_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case_number": self.case_number,
            "title": self.title,
            "court": self.court,
            "case_type": self.case_type,
            "public": self.public,
            "scheduled_at": schedule_json(self.scheduled_at),
            "state": self.state.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "kind": self.kind.value,
            "dispute_id": self.dispute_id,
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
    # A minor or protected witness: their picture never reaches the public stream.
    masked: bool = False
    # Where they take part from (a township tribunal, a police station): the judge sees who
    # waits from which site.
    site: str | None = None
    # The kind of its hearing, read with it (not a column of its own): what its role may do
    # depends on it (a mediator moderates a mediation), and every check has the participant.
    hearing_kind: HearingKind = HearingKind.HEARING

    @property
    def grants(self) -> Grants:
        return grants_for(self.role, self.hearing_kind)

    def to_json(self, muted: dict[str, bool] | None = None) -> dict[str, Any]:
        """The PROTOCOL.md Participant object; ``muted`` comes from the live session."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "state": self.state.value,
            "site": self.site,
            "masked": self.masked,
            "muted": muted or {"audio": False, "video": False},
        }
