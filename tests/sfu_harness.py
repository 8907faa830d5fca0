"""In-process SFU harness: an `sfu.Worker` driven through its public objects by aiortc peers."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from sfu import Peer, Publication, Room, SfuConfig, TrackInfo, Worker
from tests.clients.loopback import new_peer_connection
from tests.clients.media import PatternVideoTrack, ToneAudioTrack
from tests.clients.receiver import MediaSink


class Events:
    """Collects what the SFU reports to its listeners (a RoomListener and a PeerListener)."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.offers: asyncio.Queue[tuple[Peer, str]] = asyncio.Queue()
        self.tracks: dict[str, list[TrackInfo]] = {}
        self.speakers: list[str | None] = []
        self.closed: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    async def wait(self, condition, timeout: float = 10.0) -> None:
        """Wait until `condition()` holds; every listener call re-checks it."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def on_publication(self, room, publication) -> None:
        self.publications.append(publication)
        self._changed.set()

    def on_unpublication(self, room, publication) -> None:
        pass

    def on_active_speaker(self, room, peer_id, level) -> None:
        self.speakers.append(peer_id)
        self._changed.set()

    def on_subscriber_offer(self, peer, sdp) -> None:
        self.offers.put_nowait((peer, sdp))

    def on_subscriptions(self, peer, tracks) -> None:
        self.tracks[peer.id] = tracks

    def on_closed(self, peer, reason) -> None:
        self.closed.append((peer.id, reason))


class ConsumeEverything:
    """A RoomListener wrapper with the SFU's old policy, now expressed from outside it: every
    other subscribing peer consumes each new publication (signaling's consumption.py does the
    same for a hearing)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def on_publication(self, room: Room, publication: Publication) -> None:
        self.inner.on_publication(room, publication)
        for peer in list(room.peers.values()):
            if peer.can_subscribe and not peer.closed and peer.id != publication.peer_id:
                peer.consume([publication.id])

    def on_unpublication(self, room: Room, publication: Publication) -> None:
        self.inner.on_unpublication(room, publication)

    def on_active_speaker(self, room: Room, peer_id: str | None, level: int) -> None:
        self.inner.on_active_speaker(room, peer_id, level)


def consume_everything(room: Room) -> Room:
    """From now on every subscribing peer of `room` receives every other peer's publications."""
    room.listener = ConsumeEverything(room.listener)
    return room


def consume_all(peer: Peer) -> None:
    """A late peer consumes what the room already has (what the old auto-subscribe gave it)."""
    peer.consume(list(peer.room.publications))


def new_pc() -> RTCPeerConnection:
    return new_peer_connection()


async def publish(peer: Peer, sender_id: int, codec: str | None = None) -> RTCPeerConnection:
    pc = new_pc()
    for track in (ToneAudioTrack(sender_id), PatternVideoTrack(sender_id)):
        transceiver = pc.addTransceiver(track, direction="sendonly")
        if codec and track.kind == "video":
            caps = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() == codec])
    await pc.setLocalDescription(await pc.createOffer())
    answer = await peer.publisher_offer(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


class Subscriber:
    """Answers the SFU's subscriber offers and decodes what arrives."""

    def __init__(self, peer: Peer, name: str, video_codec: str | None = None) -> None:
        self.peer = peer
        self.pc = new_pc()
        self.sink = MediaSink(name)
        self.video_codec = video_codec  # accept only this one, as a browser without VP8 would
        self.pc.on("track", lambda track: self.sink.add_track(track))

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        if self.video_codec:
            for transceiver in self.pc.getTransceivers():
                if transceiver.kind == "video":
                    transceiver._codecs = [
                        c for c in transceiver._codecs if c.mimeType.lower() == self.video_codec
                    ]
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.peer.subscriber_answer(self.pc.localDescription.sdp)


async def pump_offers(events: Events, subscribers: dict[str, Subscriber]) -> None:
    while True:
        peer, sdp = await events.offers.get()
        await subscribers[peer.id].answer(sdp)


@pytest.fixture
async def sfu_room():
    """A room whose subscribers receive every other peer's publications (`consume_everything`)."""
    async for parts in _room(consume=True):
        yield parts


@pytest.fixture
async def sfu_bare_room():
    """A room where nobody receives anything it was not told to `consume`."""
    async for parts in _room(consume=False):
        yield parts


async def _room(consume: bool):
    worker = Worker(SfuConfig(ice_loopback=True))
    events = Events()
    room = worker.room("hearing-1", events)
    if consume:
        consume_everything(room)
    subscribers: dict[str, Subscriber] = {}
    pump = asyncio.ensure_future(pump_offers(events, subscribers))
    pcs: list[RTCPeerConnection] = []
    yield worker, room, events, subscribers, pcs
    pump.cancel()
    for sub in subscribers.values():
        await sub.sink.close()
        await sub.pc.close()
    for pc in pcs:
        await pc.close()
    await worker.close()
