"""Reply models of `GET /api/admin/workers` (signaling/admin_api.py): only for the OpenAPI
document; the handler answers `Pool.describe()` as plain JSON."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from signaling.schemas_replies import Reply


class WorkerHearing(Reply):
    id: str
    peers: int
    forwarded_pps: float = Field(description="packets per second it forwarded (last second)")
    outgrown: bool = Field(description="whether it needs more than its worker can give")


class WorkerState(Reply):
    index: int
    pid: int | None
    state: Literal["starting", "ready", "restarting", "failed", "stopped"]
    started_at: str | None = Field(description="UTC ISO 8601 start of the current process")
    restarts: int
    last_exit: str | None = Field(
        description='why the previous process ended, e.g. "killed by signal 9"'
    )
    cpu_seconds: float
    cpu_ratio: float = Field(description="share of one core over the last 5 s")
    rss_bytes: int
    heartbeat_age_ms: float | None
    loop_lag_ms: float = Field(description="the latest heartbeats' largest timer lag")
    rooms: int
    peers: int
    forwarded_pps: float
    hearings: list[WorkerHearing]


class Placement(Reply):
    policy: Literal["least_loaded", "in_process"]
    outgrown_hearings: int
    replacements: int = Field(description="hearings re-placed after their worker was lost")


class SidecarState(Reply):
    name: str = Field(description='"recorder" or "livestream"')
    pid: int | None
    state: Literal["starting", "ready", "restarting", "failed", "stopped"]
    restarts: int
    last_exit: str | None
    cpu_seconds: float
    rss_bytes: int
    taps: int = Field(description="publications it reads now")
    tap_lost_packets: int = Field(description="sequence gaps: lost before it read them")
    tap_dropped: int = Field(description="packets it did not take in time (queue full)")
    archive_jobs: dict[str, int] | None = Field(
        default=None, description="the recorder's composite builds by state"
    )


class Workers(Reply):
    workers: list[WorkerState] = Field(description="empty when the SFU runs in-process")
    placement: Placement
    sidecars: list[SidecarState] = Field(
        default_factory=list, description="sidecar processes; empty when they run in-process"
    )
