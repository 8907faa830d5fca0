"""Helpers for end-to-end tests: the real HTTP API, joining participants, polling with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCPeerConnection

from tests.clients.loopback import new_peer_connection
from tests.clients.media import PatternVideoTrack, ToneAudioTrack
from tests.clients.participant import Participant

_case = itertools.count(1)


class Api:
    """The documented HTTP API, as an operator or a court's system would call it."""

    def __init__(self, server):
        self.server = server
        self.url = server.url

    def abs(self, url: str) -> str:
        return urljoin(self.url + "/", url)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        auth: str | None = "admin",
        headers: dict | None = None,
        timeout: float = 15.0,
    ) -> tuple[int, Any, dict]:
        """Returns (status, parsed JSON or text, headers). auth: "admin", a token, or None."""
        h = dict(headers or {})
        if auth == "admin":
            h["Authorization"] = f"Bearer {self.server.admin_key}"
        elif auth is not None:
            h["Authorization"] = f"Bearer {auth}"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s,
            s.request(method, self.abs(path), json=json, data=data, headers=h) as r,
        ):
            text = await r.text()
            try:
                body = await r.json(content_type=None)
            except Exception:
                body = text
            return r.status, body, dict(r.headers)

    async def create_hearing(self, **fields) -> dict:
        n = next(_case)
        body = {
            "case_number": f"(2025)测试{n:04d}号",
            "title": f"e2e hearing {n}",
            "court": "Test District Court",
            "case_type": "civil",
            "public": False,
            "scheduled_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
            **fields,
        }
        status, data, _ = await self.request("POST", "/api/hearings", json=body)
        assert status == 201, f"create hearing: {status} {data}"
        assert data.get("id"), data
        return data

    async def token(
        self,
        hearing_id: str,
        role: str,
        name: str | None = None,
        admitted: bool | None = None,
        auth: str | None = "admin",
        **extra,
    ) -> dict:
        body = {"role": role, "name": name or f"{role}-e2e", **extra}
        if admitted is not None:
            body["admitted"] = admitted
        status, data, _ = await self.request(
            "POST", f"/api/hearings/{hearing_id}/tokens", json=body, auth=auth
        )
        assert status == 201, f"token for {role}: {status} {data}"
        for k in ("token", "participant_id", "whip_url", "whep_url"):
            assert k in data, f"token response lacks {k}: {data}"
        data["whip_url"] = self.abs(data["whip_url"])
        data["whep_url"] = self.abs(data["whep_url"])
        return data

    async def metrics(self) -> str:
        status, body, _ = await self.request("GET", "/metrics", auth=None)
        assert status == 200, f"/metrics: {status} {body}"
        return body if isinstance(body, str) else str(body)

    async def health(self) -> dict:
        status, body, _ = await self.request("GET", "/api/health", auth=None)
        assert status == 200, f"/api/health: {status} {body}"
        return body


def metric_value(text: str, name: str) -> float | None:
    """Sum of every sample of ``name`` (any labels; ``name_total`` too) in Prometheus text."""
    for candidate in (name, f"{name}_total"):
        total, found = 0.0, False
        pattern = rf"^{re.escape(candidate)}(?:{{[^}}]*}})?\s+([-+0-9.eEinfNa]+)(?:\s+\d+)?\s*$"
        for m in re.finditer(pattern, text, re.MULTILINE):
            total += float(m.group(1))
            found = True
        if found:
            return total
    return None


async def eventually(
    cond: Callable[[], bool | Awaitable[bool]],
    timeout: float,
    what: str,
    interval: float = 0.1,
    detail: Callable[[], str] | None = None,
) -> None:
    """Poll ``cond`` until true; fail with ``what`` (and ``detail()``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        r = cond()
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s: {what}" + (f"\n{detail()}" if detail else "")
            )
        await asyncio.sleep(interval)


async def steady(
    cond: Callable[[], bool], duration: float, what: str, interval: float = 0.1
) -> None:
    """Assert ``cond`` holds continuously for ``duration`` seconds."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        assert cond(), what
        await asyncio.sleep(interval)
    assert cond(), what


def pairs(people: Sequence[Participant]) -> list[tuple[Participant, Participant]]:
    """Every (receiver, sender) pair of two different ones of ``people``."""
    return [(p, q) for p in people for q in people if q is not p]


async def everyone_sees_and_hears(people: Sequence[Participant]) -> None:
    """Wait until each of ``people`` decodes the video and the audio of every other one."""
    for p, q in pairs(people):
        await p.wait_video_from(q, min_frames=15, timeout=25)
        await p.wait_audio_from(q, min_frames=25, timeout=15)


class Cast:
    """Participants of one test; closes them all at the end."""

    def __init__(self, server):
        self.server = server
        self.api = Api(server)
        self.people: list[Participant] = []
        self.closers: list[Callable[[], Awaitable[Any]]] = []

    def participant(self, token: dict | str, media_id: int, **kw) -> Participant:
        tok = token["token"] if isinstance(token, dict) else token
        p = Participant(self.server.url, tok, media_id, **kw)
        self.people.append(p)
        return p

    async def join(
        self,
        hearing: dict,
        role: str,
        media_id: int,
        *,
        judge: Participant | None = None,
        admitted: bool | None = None,
        publish: bool = True,
        **kw,
    ) -> Participant:
        """Token → connect → join → (judge admits if in lobby) → publish."""
        tok = await self.api.token(hearing["id"], role, f"{role}-{media_id}", admitted=admitted)
        p = self.participant(tok, media_id, name=f"{role}-{media_id}", **kw)
        await p.connect()
        await p.join()
        if p.state == "lobby":
            assert judge is not None, f"{p.name} is in the lobby and no judge to admit it"
            await judge.admit(p.participant_id)
        await p.wait_admitted(10)
        if publish:
            await p.publish()
        return p

    async def on_air(self, judge_media_id: int, **fields) -> tuple[dict, Participant]:
        """A public hearing whose judge publishes ``judge_media_id``, its live stream started."""
        hearing = await self.api.create_hearing(public=True, **fields)
        judge = await self.join(hearing, "judge", judge_media_id)
        await eventually(
            lambda: judge.pub_pc is not None and judge.pub_pc.connectionState == "connected",
            15,
            "published",
        )
        status, body, _ = await self.api.request(
            "POST", f"/api/hearings/{hearing['id']}/live/start"
        )
        assert status == 200, body
        return hearing, judge

    async def offering_peer(self, media_id: int) -> RTCPeerConnection:
        """A peer connection that sends ``media_id``'s tone and pattern, with its offer set as the
        local description (closed at the end of the test)."""
        pc = new_peer_connection()
        self.closers.append(pc.close)
        pc.addTransceiver(ToneAudioTrack(media_id), direction="sendonly")
        pc.addTransceiver(PatternVideoTrack(media_id), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return pc

    async def close(self) -> None:
        for c in self.closers:
            with contextlib.suppress(Exception):
                await c()
        await asyncio.gather(*(p.close() for p in self.people), return_exceptions=True)
