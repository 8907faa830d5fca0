"""What the dispute and ladder routes answer, as models: for the OpenAPI document only (the
handlers build plain JSON with signaling/disputes.py's ``*_json``), so every answer is typed
and schemathesis holds the replies to them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from signaling.disputes import DisputeState, DisputeType, HandlerLevel, MediatorStatus, Side
from signaling.schemas_replies import Reply


class HandlerReply(Reply):
    level: HandlerLevel
    site_id: str | None = Field(description="the site; None for the command center")


class ConsentsReply(Reply):
    online_mediation: bool
    electronic_service: bool


class PartyReply(Reply):
    id: str
    side: Side
    name: str
    id_number: str = Field(description="masked: 110101********1234")
    phone: str = Field(description="masked: 138****5678")
    address: str = Field(description="the service address (送达地址)")
    village: str
    township: str
    consents: ConsentsReply


class DeadlineReply(Reply):
    limit: str = Field(description="mediator_appointment, mediator_answer, mediation_conclusion")
    label: str
    rule: str = Field(description="the court rule the limit implements")
    due_at: str
    met_at: str | None
    status: Literal["running", "met", "overdue", "ended"]
    late: bool = Field(description="met after it was due")


class OverdueReply(Reply):
    limit: str
    due_at: str


class DisputeReply(Reply):
    id: str
    number: str = Field(description="the human number, e.g. 青山镇调〔2026〕12号")
    intake_site_id: str
    type: DisputeType
    type_label: str
    summary: str
    state: DisputeState
    handler: HandlerReply
    mediator_id: str | None
    mediator_status: MediatorStatus | None
    mediator_appointed_at: str | None
    mediator_answered_at: str | None
    judge_id: str | None
    parties: list[PartyReply]
    received_at: str
    created_at: str
    updated_at: str
    mediation_ended_at: str | None
    ladder_version: int = Field(description="the ladder version that routed it")
    rule_id: str = Field(description="the rule that routed it")
    on_failure: Literal["failed", "judge_mediation"]
    intake_by: str
    deadlines: list[DeadlineReply]
    overdue: list[OverdueReply]


class DisputeList(Reply):
    disputes: list[DisputeReply]


class EventReply(Reply):
    seq: int
    at: str
    actor: str
    from_state: DisputeState | None
    to_state: DisputeState
    reason: str | None
    detail: dict[str, Any]


class EventList(Reply):
    events: list[EventReply]


class EvidenceReply(Reply):
    id: str
    dispute_id: str
    filename: str
    media_type: str
    size: int
    sha256: str = Field(description="hex SHA-256 of the file, re-checked on every download")
    uploaded_by: str
    uploaded_at: str


class EvidenceList(Reply):
    evidence: list[EvidenceReply]


class WhenReply(Reply):
    intake_site_kind: list[str] | None = None
    type: list[DisputeType] | None = None
    trade_site: bool | None = None
    residence: str | None = None


class RuleReply(Reply):
    id: str
    label: str
    when: WhenReply
    to: str
    on_failure: str


class LadderVersionSummary(Reply):
    version: int
    changed_by: str
    changed_at: str
    note: str | None
    rules: int = Field(description="how many rules that version has")


class LadderReply(Reply):
    version: int
    changed_by: str
    changed_at: str
    note: str | None
    rules: list[RuleReply]
    history: list[LadderVersionSummary] = Field(description="every version, oldest first")
