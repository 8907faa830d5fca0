"""An SFU worker: one event loop on one core, holding the rooms placed on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from sfu import rtc_internals
from sfu.config import SfuConfig
from sfu.publication import Counters
from sfu.room import Room, RoomListener

log = logging.getLogger(__name__)

TICK = 0.1


class Worker:
    def __init__(self, config: SfuConfig | None = None) -> None:
        self.config = config or SfuConfig()
        # Each room counts its own packets (placement needs each hearing's share of the work);
        # the counters of closed rooms are added here, so the worker's totals never go back.
        self._retired = Counters()
        self.rooms: dict[str, Room] = {}
        self._ticker: asyncio.Task[None] | None = None
        rtc_internals.count_decoders()
        if self.config.ice_loopback:
            rtc_internals.enable_loopback_candidates()

    def room(self, room_id: str, listener: RoomListener) -> Room:
        """The room of this id, created on first use."""
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(room_id, self.config, Counters(), listener)
            self._start_ticker()
        return room

    def get_room(self, room_id: str) -> Room | None:
        return self.rooms.get(room_id)

    async def close_room(self, room_id: str) -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            try:
                await room.close()
            finally:
                # Packets its peers' last moments sent count too: retire after the close.
                _add(self._retired, room.counters)

    def _start_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for room in list(self.rooms.values()):
                try:
                    for peer in room.tick(now):
                        log.info("peer %s in room %s sent no media: closing", peer.id, room.id)
                        peer.listener.on_closed(peer, "media timeout")
                        await room.remove_peer(peer.id)
                except Exception:
                    log.exception("upkeep of room %s failed", room.id)

    @property
    def counters(self) -> Counters:
        """The worker's totals: its rooms' counters plus those of the rooms it closed."""
        total = Counters()
        _add(total, self._retired)
        for room in self.rooms.values():
            _add(total, room.counters)
        return total

    def load(self) -> dict[str, dict[str, int]]:
        """Per room: what placement weighs (peers, and the packets that the room costs)."""
        return {
            room.id: {
                "peers": len(room.peers),
                "publications": len(room.publications),
                "subscriptions": sum(len(p.subscriptions) for p in room.publications.values()),
                "packets_in": room.counters.packets_in,
                "packets_out": room.counters.packets_out,
            }
            for room in self.rooms.values()
        }

    def stats(self) -> dict[str, int]:
        c = self.counters
        connections = [
            pc for r in self.rooms.values() for p in r.peers.values() for pc in p.connections()
        ]
        return {
            "rooms": len(self.rooms),
            "peers": sum(len(r.peers) for r in self.rooms.values()),
            "publications": sum(len(r.publications) for r in self.rooms.values()),
            "subscriptions": sum(
                len(p.subscriptions) for r in self.rooms.values() for p in r.publications.values()
            ),
            "packets_in": c.packets_in,
            "bytes_in": c.bytes_in,
            "packets_out": c.packets_out,
            "bytes_out": c.bytes_out,
            "nacks_answered": c.nacks_answered,
            "nacks_sent": c.nacks_sent,
            "plis_sent": c.plis_sent,
            "decoders_created": rtc_internals.decoders_created(),
            "decoder_threads": sum(1 for t in threading.enumerate() if t.name.endswith("-decoder")),
            # A connection whose transport died is gone from both at once (media_reset).
            "peer_connections": len(connections),
            "peer_connections_connected": sum(
                1 for pc in connections if pc.connectionState == "connected"
            ),
            **rtc_internals.drops.stats(),
        }

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for room_id in list(self.rooms):
            await self.close_room(room_id)


def _add(total: Counters, part: Counters) -> None:
    for name, value in vars(part).items():
        setattr(total, name, getattr(total, name) + value)
