"""A load-generator process: some of the run's publishers and subscribers, on one event loop.

The coordinator (`benchmarks.runner`) tells it whom to create and asks for snapshots; in the
self-contained mode it also relays the peers' signaling. Several of these run side by side
(multiprocessing, spawn) so that the generator is never the bottleneck, and each reports its own
CPU time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.channel import Channel
from benchmarks.histogram import Histogram
from benchmarks.links import Link, PipeLink, SocketLink
from benchmarks.media import Clip
from benchmarks.peers import PublisherPeer, SubscriberPeer
from benchmarks.procstat import own_cpu_seconds, raise_fd_limit
from sfu import rtc_internals

CONNECT_TIMEOUT = 30.0


class Generator:
    def __init__(self, channel: Channel, index: int, video: Clip, audio: Clip) -> None:
        self.channel = channel
        self.index = index
        self.video = video
        self.audio = audio
        self.publishers: dict[str, PublisherPeer] = {}
        self.subscribers: dict[str, SubscriberPeer] = {}
        self.links: dict[str, Link] = {}
        self.latency = Histogram()
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _link(self, peer_id: str, hearing: str, token: str | None, url: str | None) -> Link:
        link: Link = (
            SocketLink(url, token) if url and token else PipeLink(self.channel, hearing, peer_id)
        )
        self.links[peer_id] = link
        return link

    async def _publisher(
        self, peer_id: str, hearing: str, token: str | None, url: str | None
    ) -> None:
        try:
            peer = self.publishers[peer_id] = PublisherPeer(peer_id, self.video, self.audio)
            link = self._link(peer_id, hearing, token, url)
            await link.join(publish=True)
            await peer.accept(await link.publish(await peer.offer()))
            await asyncio.wait_for(peer.connected.wait(), CONNECT_TIMEOUT)
            self.channel.send(("publisher_ready", peer_id))
        except Exception as exc:
            self.channel.send(("failed", peer_id, repr(exc)))

    async def _subscriber(
        self, peer_id: str, hearing: str, sampled: bool, token: str | None, url: str | None
    ) -> None:
        try:
            peer = SubscriberPeer(peer_id, self.video.codec, sampled, self.latency)
            self.subscribers[peer_id] = peer
            link = self._link(peer_id, hearing, token, url)
            link.on_offer = peer.answer
            await link.join(publish=False)
        except Exception as exc:
            self.channel.send(("failed", peer_id, repr(exc)))

    def snapshot(self, reset_latency: bool) -> dict[str, Any]:
        latency = self.latency.counts
        if reset_latency:
            self.latency.counts = {}
        return {
            "cpu": own_cpu_seconds(),
            "subscribers": {k: s.snapshot() for k, s in self.subscribers.items()},
            "keyframe_requests": sum(p.video.keyframe_requests for p in self.publishers.values()),
            "latency": latency,
            "errors": [e for link in self.links.values() for e in getattr(link, "errors", [])],
        }

    async def close_some(self, peer_ids: list[str]) -> None:
        """Close these peers and their links; the rest of the load goes on."""
        for peer_id in peer_ids:
            link = self.links.pop(peer_id, None)
            peer: Any = self.publishers.pop(peer_id, None) or self.subscribers.pop(peer_id, None)
            if link is not None:
                with contextlib.suppress(Exception):
                    await link.close()
            if peer is not None:
                with contextlib.suppress(Exception):
                    await peer.close()

    async def close_peers(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        peers: list[Any] = [*self.publishers.values(), *self.subscribers.values()]
        for link in self.links.values():
            with contextlib.suppress(Exception):
                await link.close()
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        self.publishers.clear()
        self.subscribers.clear()
        self.links.clear()
        self.latency = Histogram()

    async def run(self) -> None:
        while (message := await self.channel.recv()) is not None:
            command = message[0]
            if command == "publisher":
                self._spawn(self._publisher(*message[1:]))
            elif command == "subscriber":
                self._spawn(self._subscriber(*message[1:]))
            elif command in ("answer", "offer", "error"):
                link = self.links.get(message[1])
                if isinstance(link, PipeLink):
                    link.deliver(message)
            elif command == "snapshot":
                self.channel.send(("snapshot", self.index, message[1], self.snapshot(message[2])))
            elif command == "close":
                await self.close_some(message[2])
                self.channel.send(("closed_peers", self.index, message[1]))
            elif command == "reset":
                await self.close_peers()
                self.channel.send(("reset_done", self.index))
            elif command == "stop":
                await self.close_peers()
                self.channel.send(("stopped", self.index))
                return


def main(conn: Connection, index: int, video: Clip, audio: Clip) -> None:
    """Process entry point (multiprocessing, spawn)."""
    logging.basicConfig(level=logging.ERROR)
    raise_fd_limit()
    rtc_internals.enable_loopback_candidates()

    async def run() -> None:
        await Generator(Channel(conn), index, video, audio).run()

    asyncio.run(run())
