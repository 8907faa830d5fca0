"""Kiosks bound to a site: each holds a device credential (shown once at enrolment, kept by the
server as its SHA-256 only) and sends a heartbeat with its camera and microphone status every
15 s. A site is online while its newest heartbeat is younger than ``site_offline_after``
seconds (CLOUDCOURT_SITE_OFFLINE_AFTER): computed when asked, so a kiosk that goes silent shows
offline without any timer of the server's noticing it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from signaling.accounts import secret_digest
from signaling.errors import conflict, not_found
from signaling.models import utc_now
from signaling.store import SqliteStore

# Device credentials start with this, so that a credential pasted in the wrong place (as a
# session, or a session pasted in the kiosk) can be told apart in support calls.
CREDENTIAL_PREFIX = "ccd_"


@dataclass(frozen=True)
class Device:
    id: str
    site_id: str
    label: str
    enrolled_by: str
    created_at: str
    revoked_at: str | None
    last_heartbeat_at: str | None
    last_status: dict[str, Any] | None

    def to_json(self, online: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "site_id": self.site_id,
            "label": self.label,
            "enrolled_by": self.enrolled_by,
            "created_at": self.created_at,
            "revoked": self.revoked_at is not None,
            "revoked_at": self.revoked_at,
            "online": online,
            "last_heartbeat_at": self.last_heartbeat_at,
            "last_status": self.last_status,
        }


def _device(row: sqlite3.Row) -> Device:
    status = row["last_status"]
    return Device(
        id=row["id"],
        site_id=row["site_id"],
        label=row["label"],
        enrolled_by=row["enrolled_by"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_heartbeat_at=row["last_heartbeat_at"],
        last_status=json.loads(status) if status else None,
    )


_COLUMNS = "id, site_id, label, enrolled_by, created_at, revoked_at, last_heartbeat_at, last_status"


@dataclass(frozen=True)
class SiteStatus:
    online: bool
    last_heartbeat_at: str | None
    devices: list[Device]


class DeviceService:
    def __init__(self, store: SqliteStore, offline_after: float) -> None:
        self.db = store
        self.offline_after = timedelta(seconds=offline_after)

    def online(self, device: Device, now: datetime | None = None) -> bool:
        if device.revoked_at is not None or device.last_heartbeat_at is None:
            return False
        now = now or datetime.now(UTC)
        return now - datetime.fromisoformat(device.last_heartbeat_at) < self.offline_after

    async def enrol(self, site_id: str, label: str, enrolled_by: str) -> tuple[Device, str]:
        """(the device, its credential): the credential is returned here only."""
        credential = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
        device = Device(
            id="k_" + secrets.token_hex(8),
            site_id=site_id,
            label=label,
            enrolled_by=enrolled_by,
            created_at=utc_now(),
            revoked_at=None,
            last_heartbeat_at=None,
            last_status=None,
        )
        await self.db.run(
            lambda conn: conn.execute(
                "INSERT INTO site_devices (id, site_id, label, credential_sha256, enrolled_by,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    device.id,
                    site_id,
                    label,
                    secret_digest(credential),
                    enrolled_by,
                    device.created_at,
                ),
            )
        )
        return device, credential

    async def get(self, site_id: str, device_id: str) -> Device:
        def get(conn: sqlite3.Connection) -> Device | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM site_devices WHERE id = ? AND site_id = ?",
                (device_id, site_id),
            ).fetchone()
            return _device(row) if row else None

        device = await self.db.run(get)
        if device is None:
            raise not_found(f"site {site_id} has no device {device_id}")
        return device

    async def revoke(self, site_id: str, device_id: str) -> Device:
        device = await self.get(site_id, device_id)
        if device.revoked_at is not None:
            raise conflict(f"device {device_id} was revoked at {device.revoked_at}")
        now = utc_now()
        await self.db.run(
            lambda conn: conn.execute(
                "UPDATE site_devices SET revoked_at = ? WHERE id = ?", (now, device_id)
            )
        )
        return await self.get(site_id, device_id)

    async def by_credential(self, credential: str) -> Device | None:
        """The unrevoked device holding this credential."""

        def get(conn: sqlite3.Connection) -> Device | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM site_devices"
                " WHERE credential_sha256 = ? AND revoked_at IS NULL",
                (secret_digest(credential),),
            ).fetchone()
            return _device(row) if row else None

        return await self.db.run(get)

    async def heartbeat(self, device: Device, status: dict[str, Any]) -> Device:
        # Milliseconds: with a short offline setting a whole second of rounding would matter.
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        text = json.dumps(status, ensure_ascii=False)
        await self.db.run(
            lambda conn: conn.execute(
                "UPDATE site_devices SET last_heartbeat_at = ?, last_status = ? WHERE id = ?",
                (now, text, device.id),
            )
        )
        return await self.get(device.site_id, device.id)

    async def statuses(self, site_ids: list[str]) -> dict[str, SiteStatus]:
        """Each site's devices (revoked ones too, for the record) and whether it is online."""

        def list_(conn: sqlite3.Connection) -> list[Device]:
            if not site_ids:
                return []
            marks = ", ".join("?" for _ in site_ids)
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM site_devices WHERE site_id IN ({marks})"
                " ORDER BY created_at, id",
                site_ids,
            )
            return [_device(r) for r in rows.fetchall()]

        by_site: dict[str, list[Device]] = {i: [] for i in site_ids}
        for device in await self.db.run(list_):
            by_site[device.site_id].append(device)
        now = datetime.now(UTC)
        out = {}
        for site_id, devices in by_site.items():
            beats = [
                d.last_heartbeat_at
                for d in devices
                if d.revoked_at is None and d.last_heartbeat_at is not None
            ]
            out[site_id] = SiteStatus(
                online=any(self.online(d, now) for d in devices),
                last_heartbeat_at=max(beats) if beats else None,
                devices=devices,
            )
        return out


DEVICES: web.AppKey[DeviceService] = web.AppKey("devices", DeviceService)


def devices_of(request: web.Request) -> DeviceService:
    return request.app[DEVICES]
