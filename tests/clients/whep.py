"""WHEP playback client (aiortc): recvonly audio+video, Bearer token, DELETE at the end."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from .loopback import enable_loopback_candidates, new_peer_connection
from .receiver import MediaSink


class HttpError(AssertionError):
    def __init__(self, method: str, url: str, status: int, body: str):
        self.status, self.body = status, body
        super().__init__(f"{method} {url} -> {status}: {body[:500]}")


async def post_sdp(url: str, token: str | None, sdp: str, timeout: float = 15.0):
    """POST an SDP offer the WHIP/WHEP way; returns (status, headers, body text)."""
    headers = {"Content-Type": "application/sdp"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s,
        s.post(url, data=sdp.encode(), headers=headers) as r,
    ):
        return r.status, r.headers, await r.text()


async def http_delete(url: str, token: str | None, timeout: float = 10.0) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s,
        s.delete(url, headers=headers) as r,
    ):
        await r.read()
        return r.status


class WhepClient:
    def __init__(
        self,
        url: str,
        token: str | None,
        name: str = "whep",
        audio: bool = True,
        video: bool = True,
    ):
        enable_loopback_candidates()
        self.url, self.token, self.name = url, token, name
        self.audio, self.video = audio, video
        self.pc: RTCPeerConnection | None = None
        self.sink = MediaSink(name)
        self.location: str | None = None
        self.status: int | None = None
        self.body: str = ""

    async def offer_sdp(self) -> str:
        self.pc = new_peer_connection()
        self.pc.on("track", lambda track: self.sink.add_track(track, self._mid_of(track)))
        if self.audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        if self.video:
            self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    def _mid_of(self, track) -> str | None:
        for t in self.pc.getTransceivers():
            if t.receiver.track is track:
                return t.mid
        return None

    async def start(self, check: bool = True) -> int:
        """POST the offer; on 201 apply the answer. Raises HttpError on another status if check."""
        sdp = await self.offer_sdp()
        self.status, headers, self.body = await post_sdp(self.url, self.token, sdp)
        if self.status == 201:
            loc = headers.get("Location")
            self.location = urljoin(self.url, loc) if loc else None
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.body, type="answer"))
        elif check:
            raise HttpError("POST", self.url, self.status, self.body)
        return self.status

    async def wait_video_from(
        self, sender: int, min_frames: int = 10, timeout: float = 20.0, since: float | None = None
    ):
        return await self.sink.wait_video_from(sender, min_frames, timeout, since)

    async def wait_audio_from(
        self, sender: int, min_frames: int = 10, timeout: float = 20.0, since: float | None = None
    ):
        return await self.sink.wait_audio_from(sender, min_frames, timeout, since)

    async def stop(self) -> int | None:
        status = None
        if self.location:
            with contextlib.suppress(Exception):
                status = await http_delete(self.location, self.token)
            self.location = None
        await self.sink.close()
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pc.close(), 5)
        return status
