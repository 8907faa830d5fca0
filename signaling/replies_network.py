"""What the court network's people and sites routes answer, as models: for the OpenAPI
document only (the handlers build plain JSON, from the records' ``to_json``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from signaling.accounts import AccountRole
from signaling.schemas_replies import Reply
from signaling.sites import SiteKind


class AccountOut(Reply):
    id: str
    username: str
    name: str
    role: AccountRole
    active: bool
    created_at: str
    updated_at: str


class AccountReply(Reply):
    account: AccountOut


class AccountList(Reply):
    accounts: list[AccountOut]


class LoginReply(Reply):
    session: str = Field(description="the session token: send it as 'Authorization: Bearer …'")
    account: AccountOut
    expires_at: str


class Me(Reply):
    account: AccountOut | None = Field(description="null for the admin key")
    admin: bool = Field(description="the admin key or an admin account")
    expires_at: str | None = Field(description="when the session ends (null for the admin key)")


class Person(Reply):
    id: str
    name: str
    active: bool


class GridMemberOut(Reply):
    name: str
    phone: str | None = Field(description="masked: 138****5678")
    area: str | None


class DeviceOut(Reply):
    id: str
    site_id: str
    label: str
    enrolled_by: str
    created_at: str
    revoked: bool
    revoked_at: str | None
    online: bool
    last_heartbeat_at: str | None
    last_status: dict[str, Any] | None


class SiteOut(Reply):
    id: str
    kind: SiteKind
    kind_name: str = Field(description="the kind's Chinese name, e.g. 社区(村)云法庭")
    name: str
    county: str
    township: str
    village: str | None
    address: str
    liaison_judge_id: str | None
    officer_id: str | None
    mediator_ids: list[str]
    grid_members: list[GridMemberOut]
    equipment: list[str]
    trades: list[str]
    retired: bool
    retired_at: str | None
    created_at: str
    updated_at: str
    liaison_judge: Person | None
    officer: Person | None
    mediators: list[Person]
    online: bool = Field(description="a kiosk of the site sent a heartbeat recently")
    last_heartbeat_at: str | None
    devices: list[DeviceOut]
    may_act: bool = Field(description="whether the caller acts for this site")


class SiteReply(Reply):
    site: SiteOut


class SiteList(Reply):
    sites: list[SiteOut]
    offline_after_seconds: float


class DeviceReply(Reply):
    device: DeviceOut


class DeviceEnrolled(Reply):
    device_id: str
    credential: str = Field(description="shown this once: the server keeps only its SHA-256")
    kiosk_url: str = Field(description="the kiosk page with the credential, for a QR code")
    device: DeviceOut


class KioskSite(Reply):
    id: str
    kind: SiteKind
    kind_name: str
    name: str
    county: str
    township: str
    village: str | None
    address: str
    retired: bool


class KioskHearing(Reply):
    id: str
    case_number: str
    kind: str = Field(description="mediation or hearing")
    scheduled_at: str
    state: str
    kiosk_seat: bool = Field(description="the kiosk has a seat: it may join (POST …/token)")


class KioskToken(Reply):
    participant_id: str
    token: str
    expires_at: str
    join_url: str = Field(description="the room for the kiosk (role site)")


class KioskStatus(Reply):
    device_id: str
    label: str
    site: KioskSite
    online: bool
    last_heartbeat_at: str | None
    heartbeat_seconds: int = Field(description="how often the kiosk should send its heartbeat")
    today: list[KioskHearing] = Field(
        description="the site's sessions and hearings scheduled today (the court's day), not ended"
    )
