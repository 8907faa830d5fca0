"""The self-contained mode's server: one SFU `Worker` alone in a process, driven through a Pipe.

Hearings are placed on worker processes by the coordinator (a hearing lives on exactly one
worker, as docs/SFU.md says); its CPU time is read from /proc by the coordinator, so it is the
worker's own. There is no control plane here: `cloudcourt serve` is measured with `--server`.
"""

from __future__ import annotations

import asyncio
import logging
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.channel import Channel
from benchmarks.probe import LatencyProbe
from benchmarks.procstat import raise_fd_limit
from sfu import Peer, Publication, Room, SfuConfig, TrackInfo, Worker


class Events:
    """RoomListener and PeerListener: what the coordinator needs to hear about."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def on_publication(self, room: Room, publication: Publication) -> None:
        self.channel.send(("published", room.id, publication.peer_id, publication.kind))
        # The SFU forwards only what a peer consumes: every subscriber gets every publication.
        for peer in list(room.peers.values()):
            if peer.can_subscribe and peer.id != publication.peer_id:
                peer.consume([publication.id])

    def on_unpublication(self, room: Room, publication: Publication) -> None: ...
    def on_active_speaker(self, room: Room, peer_id: str | None, level: int) -> None: ...
    def on_subscriptions(self, peer: Peer, tracks: list[TrackInfo]) -> None: ...

    def on_subscriber_offer(self, peer: Peer, sdp: str) -> None:
        self.channel.send(("offer", peer.id, sdp))

    def on_closed(self, peer: Peer, reason: str) -> None:
        self.channel.send(("closed", peer.id, reason))


async def _handle(worker: Worker, events: Events, message: tuple[Any, ...]) -> None:
    command, hearing, peer_id = message[:3]
    try:
        room = worker.room(hearing, events)
        if command == "publish":
            peer = room.peers.get(peer_id) or room.add_peer(
                peer_id, publish=True, subscribe=False, listener=events
            )
            events.channel.send(("answer", peer_id, await peer.publisher_offer(message[3])))
        elif command == "subscribe":
            peer = room.add_peer(peer_id, publish=False, subscribe=True, listener=events)
            peer.consume(list(room.publications))
        elif command == "subscriber_answer":
            await room.peers[peer_id].subscriber_answer(message[3])
    except Exception as exc:  # reported to the peer's generator, which counts it as a failure
        events.channel.send(("error", peer_id, f"{command}: {exc!r}"))


async def serve(channel: Channel, probe: LatencyProbe | None) -> None:
    worker = Worker(SfuConfig(ice_loopback=True))
    events = Events(channel)
    tasks: set[asyncio.Task[None]] = set()
    if probe is not None:
        tasks.add(asyncio.ensure_future(probe.watch_loop()))
    while (message := await channel.recv()) is not None:
        if message[0] == "stats":
            channel.send(("stats", message[1], worker.stats(), probe.drain() if probe else None))
        elif message[0] == "stop":
            await worker.close()
            channel.send(("stopped",))
            return
        else:
            task = asyncio.ensure_future(_handle(worker, events, message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


def main(conn: Connection, measure_latency: bool) -> None:
    """Process entry point (multiprocessing, spawn)."""
    logging.basicConfig(level=logging.ERROR)
    raise_fd_limit()
    probe = LatencyProbe() if measure_latency else None
    if probe is not None:
        probe.install()  # before the Worker creates any connection

    async def run() -> None:
        await serve(Channel(conn), probe)

    asyncio.run(run())
