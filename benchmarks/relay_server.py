"""The baseline: the same hearings through an aiortc `MediaRelay` (decode once, encode per
subscriber), alone in a process and driven through the same Pipe protocol as `sfu_server`.

This is what an aiortc application does without an SFU: each publisher's tracks are received
normally (decoded once), `MediaRelay` shares the decoded frames, and every subscriber's sender
encodes them again. `buffered=False` lets a slow subscriber drop frames rather than queue them
without bound. The encoders start at the publishers' bitrate (aiortc would otherwise start at
500 kbit/s; the counting subscribers send no REMB to move it).
"""

from __future__ import annotations

import asyncio
import logging
from multiprocessing.connection import Connection
from typing import Any

import aiortc.codecs.h264
import aiortc.codecs.vpx
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from benchmarks.channel import Channel
from benchmarks.peers import new_pc, video_codec_preferences
from benchmarks.procstat import raise_fd_limit
from sfu import rtc_internals


class RelayServer:
    def __init__(self, channel: Channel, codec: str) -> None:
        self.channel = channel
        self.codec = codec
        self.relay = MediaRelay()
        self.tracks: dict[str, list[MediaStreamTrack]] = {}  # hearing -> publishers' tracks
        self.pcs: dict[str, RTCPeerConnection] = {}

    async def publish(self, hearing: str, peer_id: str, sdp: str) -> None:
        pc = self.pcs[peer_id] = new_pc()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tracks.setdefault(hearing, []).append(track)
            self.channel.send(("published", hearing, peer_id, track.kind))

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.channel.send(("answer", peer_id, pc.localDescription.sdp))

    async def subscribe(self, hearing: str, peer_id: str) -> None:
        pc = self.pcs[peer_id] = new_pc()
        for track in self.tracks.get(hearing, []):
            transceiver = pc.addTransceiver(
                self.relay.subscribe(track, buffered=False), direction="sendonly"
            )
            if track.kind == "video":
                transceiver.setCodecPreferences(video_codec_preferences(self.codec))
        await pc.setLocalDescription(await pc.createOffer())
        self.channel.send(("offer", peer_id, pc.localDescription.sdp))

    async def handle(self, message: tuple[Any, ...]) -> None:
        command, hearing, peer_id = message[:3]
        try:
            if command == "publish":
                await self.publish(hearing, peer_id, message[3])
            elif command == "subscribe":
                await self.subscribe(hearing, peer_id)
            elif command == "subscriber_answer":
                await self.pcs[peer_id].setRemoteDescription(
                    RTCSessionDescription(message[3], "answer")
                )
        except Exception as exc:
            self.channel.send(("error", peer_id, f"{command}: {exc!r}"))

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs.values()), return_exceptions=True)


async def serve(channel: Channel, codec: str) -> None:
    server = RelayServer(channel, codec)
    tasks: set[asyncio.Task[None]] = set()
    while (message := await channel.recv()) is not None:
        if message[0] == "stats":
            # The relay has no forwarding counters; the subscribers' counts stand for them.
            channel.send(("stats", message[1], {}, None))
        elif message[0] == "stop":
            await server.close()
            channel.send(("stopped",))
            return
        else:
            task = asyncio.ensure_future(server.handle(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


def main(conn: Connection, codec: str, bitrate: int) -> None:
    """Process entry point (multiprocessing, spawn)."""
    logging.basicConfig(level=logging.ERROR)
    raise_fd_limit()
    rtc_internals.enable_loopback_candidates()
    aiortc.codecs.vpx.DEFAULT_BITRATE = bitrate  # read when each subscriber's encoder is made
    aiortc.codecs.h264.DEFAULT_BITRATE = bitrate

    async def run() -> None:
        await serve(Channel(conn), codec)

    asyncio.run(run())
