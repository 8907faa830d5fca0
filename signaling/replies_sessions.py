"""What the routes of a dispute's sessions, hearing and filing export answer, as models for the
OpenAPI document (signaling/dispute_sessions_api.py builds the JSON)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from signaling.models import ParticipantState
from signaling.roles import Role
from signaling.schemas_replies import Hearing, Reply


class SessionSeat(Reply):
    """One participant of a session and whom it stands for."""

    participant_id: str
    seat: Literal["mediator", "party", "kiosk", "judge"]
    role: Role
    name: str
    site: str | None = Field(description="the site they take part from, if any")
    state: ParticipantState
    account_id: str | None = Field(description="the mediator's or judge's account")
    party_id: str | None = Field(description="the dispute's party")
    site_id: str | None = Field(description="the kiosk's site")


class SeatToken(Reply):
    """A token for a seat, given only to whom it may go (docs/MEDIATION.md)."""

    participant_id: str
    seat: Literal["mediator", "party", "kiosk", "judge"]
    role: Role
    name: str
    token: str
    expires_at: str
    join_url: str


class MediationSession(Reply):
    hearing: Hearing
    seats: list[SessionSeat]
    judge_called: bool = Field(description="a judge has been called in")


class MediationSessionList(Reply):
    dispute_id: str
    sessions: list[MediationSession]


class MediationSessionCreated(Reply):
    session: MediationSession
    tokens: list[SeatToken] = Field(
        description="the parties' and kiosk's tokens; the mediator's only to the mediator"
    )


class JudgeCalledIn(Reply):
    session: MediationSession
    token: SeatToken | None = Field(description="only when the caller is that judge (or admin)")


class DisputeHearingReply(Reply):
    dispute_id: str
    dispute_state: str
    hearing: Hearing


class FilingExport(Reply):
    """docs/FILING.md; its schema is signaling/filing_schema.json (JSON Schema 2020-12)."""

    format: Literal["cloudcourt.filing/1"]
    dispute: dict[str, Any]
    complaint: dict[str, Any]
    evidence: list[dict[str, Any]]
    failure: dict[str, Any]
    consents: list[dict[str, Any]]
    history: list[dict[str, Any]]


class FilingFiled(Reply):
    dispute_id: str
    dispute_state: Literal["filed"]
    export_sha256: str = Field(
        description="SHA-256 of the package's export.json as filed (the event records it)"
    )
