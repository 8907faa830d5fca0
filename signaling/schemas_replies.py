"""What the API answers, as models: only for the OpenAPI document (the handlers build plain JSON),
so that every response of it is typed and a test (schemathesis) holds the answers to them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signaling.models import HearingState, ParticipantState
from signaling.roles import HearingKind, Role


class Reply(BaseModel):
    # Answers may grow fields; clients ignore what they do not know.
    model_config = ConfigDict(extra="allow")


class Error(Reply):
    error: str = Field(description="what was wrong, naming the field if one was")


class OpenApiDocument(Reply):
    """An OpenAPI 3.1 document (its own schema is the OpenAPI specification's)."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


class WorkersReady(Reply):
    ready: int
    total: int


class Health(Reply):
    status: Literal["ok"]
    version: str
    uptime_seconds: float
    live_hearings: int
    sockets: int
    workers: WorkersReady | None = Field(
        default=None, description="SFU worker processes ready / total; only with --sfu-workers N"
    )


class Hearing(Reply):
    id: str
    case_number: str
    title: str
    court: str
    case_type: str
    public: bool
    scheduled_at: str = Field(description="UTC ISO 8601 (older records: as stored)")
    state: HearingState
    created_at: str
    updated_at: str
    started_at: str | None = Field(description="when the judge first joined")
    ended_at: str | None
    kind: HearingKind = Field(description="hearing (led by the judge) or mediation (the mediator)")
    dispute_id: str | None = Field(description="the dispute it is held for, if any")


class HearingList(Reply):
    hearings: list[Hearing]


class IssuedToken(Reply):
    token: str
    participant_id: str
    role: Role
    name: str
    admitted: bool
    site: str | None
    masked: bool
    expires_at: str
    join_url: str
    whip_url: str
    whep_url: str


class Muted(Reply):
    audio: bool
    video: bool


class Participant(Reply):
    id: str
    name: str
    role: Role
    state: ParticipantState
    site: str | None
    masked: bool = Field(description="never shown in the public stream")
    muted: Muted


class ParticipantReply(Reply):
    participant: Participant


class LiveState(Reply):
    hearing_id: str
    live: bool
    delay_seconds: float
    playlist_url: str
    discarded_segments: int | None = Field(None, description="stop only")


class MaskReply(Reply):
    participant_id: str
    masked: bool


class CatalogItem(Reply):
    id: str
    case_number: str
    title: str
    court: str
    case_type: str
    status: Literal["live", "upcoming", "vod"]
    scheduled_at: str
    started_at: str | None
    ended_at: str | None
    duration: float | None
    playlist_url: str | None
    poster_url: str | None


class Catalog(Reply):
    items: list[CatalogItem]
    total: int


RecordingStateName = Literal["none", "recording", "paused", "failed", "interrupted", "stopped"]


class Archive(Reply):
    state: Literal["none", "pending", "building", "ready", "failed"]
    progress: float
    url: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    duration_seconds: float | None = None
    error: str | None = None


class Pause(Reply):
    at: str | None
    reason: str | None
    actor: str | None
    actor_role: str | None


class RecordingState(Reply):
    hearing_id: str
    state: RecordingStateName
    started_at: str | None
    duration_seconds: float
    tracks: int
    segments: int
    bytes: int
    manifest_entries: int
    chain_head: str | None
    paused: Pause | None
    archive: Archive


class Segment(Reply):
    url: str
    bytes: int
    sha256: str
    start_ms: int
    end_ms: int
    keyframe_start: bool


class Original(Reply):
    track: str
    participant: dict[str, Any]
    kind: str
    source: str | None
    codec: str | None
    segments: int
    duration_seconds: float
    bytes: int
    start_ms: int | None
    end_ms: int | None
    first_segment: Segment | None
    last_segment: Segment | None
    segments_url: str
    gaps: list[dict[str, Any]]


class Chain(Reply):
    file: str
    url: str
    state: Literal["current", "damaged"]


class Recording(Reply):
    hearing_id: str
    state: RecordingStateName
    chain_head: str | None
    manifest_entries: int
    manifest_url: str
    chains: list[Chain]
    started_at: str | None
    duration_seconds: float
    originals: list[Original]
    archive: Archive
    events: list[dict[str, Any]]


class SegmentPage(Reply):
    track: str
    total: int
    offset: int
    limit: int
    segments: list[Segment]
    next: str | None


class PauseReply(Reply):
    state: Literal["paused", "recording"]
    entry: dict[str, Any] = Field(description="the manifest entry written")
