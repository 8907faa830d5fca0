"""Test helpers for the court network (docs/NETWORK.md), over the real HTTP API: people's
accounts signed in, sites with their people, kiosk devices.

``await account(api, "officer", name="张庭务")`` → {"id", "username", "password", "session",
"name", "role"}: created with the admin key, then signed in (``session`` is its bearer token:
``api.request(..., auth=acct["session"])``).
``await site(api, kind="village", village="青山村", officer_id=o["id"], ...)`` → the site's JSON
(every required field has a default; a village site gets a village).
``await device(api, site_id)`` → {"device_id", "credential", ...}; ``await heartbeat(api,
credential)`` → the kiosk's status.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from tests.e2e import Api

_n = itertools.count(1)


async def account(
    api: Api, role: str, name: str | None = None, *, login: bool = True, auth: str = "admin"
) -> dict[str, Any]:
    n = next(_n)
    username = f"{role}{n}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    status, data, _ = await api.request(
        "POST",
        "/api/accounts",
        json={
            "username": username,
            "name": name or f"{role} {n}",
            "role": role,
            "password": password,
        },
        auth=auth,
    )
    assert status == 201, f"create {role} account: {status} {data}"
    out = {**data["account"], "password": password, "session": None}
    if login:
        out["session"] = await sign_in(api, username, password)
    return out


async def sign_in(api: Api, username: str, password: str) -> str:
    status, data, _ = await api.request(
        "POST", "/api/login", json={"username": username, "password": password}, auth=None
    )
    assert status == 200, f"login {username}: {status} {data}"
    return str(data["session"])


async def site(api: Api, auth: str = "admin", **fields: Any) -> dict[str, Any]:
    n = next(_n)
    kind = fields.get("kind", "village")
    body = {
        "kind": kind,
        "name": f"测试站点{n}",
        "county": "青山区",
        "township": "青山镇",
        "address": f"青山镇{n}号",
        **({"village": f"第{n}村"} if kind == "village" else {}),
        **fields,
    }
    status, data, _ = await api.request("POST", "/api/sites", json=body, auth=auth)
    assert status == 201, f"register site: {status} {data}"
    return dict(data["site"])


async def device(
    api: Api, site_id: str, label: str = "调解室一体机", auth: str = "admin"
) -> dict[str, Any]:
    status, data, _ = await api.request(
        "POST", f"/api/sites/{site_id}/devices", json={"label": label}, auth=auth
    )
    assert status == 201, f"enrol device: {status} {data}"
    return dict(data)


async def heartbeat(
    api: Api, credential: str, camera: bool = True, microphone: bool = True
) -> dict[str, Any]:
    status, data, _ = await api.request(
        "POST",
        "/api/kiosk/heartbeat",
        json={"camera": camera, "microphone": microphone, "app_version": "test"},
        auth=credential,
    )
    assert status == 200, f"heartbeat: {status} {data}"
    return dict(data)


async def site_json(api: Api, site_id: str, auth: str = "admin") -> dict[str, Any]:
    status, data, _ = await api.request("GET", f"/api/sites/{site_id}", auth=auth)
    assert status == 200, f"get site: {status} {data}"
    return dict(data["site"])
