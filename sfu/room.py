"""A room: the SFU's object for one hearing — its peers, their publications and who gets what."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from sfu.errors import SfuError
from sfu.peer import Peer, PeerListener
from sfu.plain import Address, PlainTap, TapSocket
from sfu.publication import Counters, Publication
from sfu.speaker import ActiveSpeaker
from sfu.tap import DEFAULT_QUEUE_PACKETS, Tap

if TYPE_CHECKING:
    from sfu.config import SfuConfig

log = logging.getLogger(__name__)

REPORT_INTERVAL = 1.0


class RoomListener(Protocol):
    def on_publication(self, room: Room, publication: Publication) -> None: ...
    def on_unpublication(self, room: Room, publication: Publication) -> None: ...
    def on_active_speaker(self, room: Room, peer_id: str | None, level: int) -> None: ...


class Room:
    def __init__(
        self, room_id: str, config: SfuConfig, counters: Counters, listener: RoomListener
    ) -> None:
        self.id = room_id
        self.config = config
        self.counters = counters
        self.listener = listener
        self.peers: dict[str, Peer] = {}
        self.publications: dict[str, Publication] = {}
        self.speaker = ActiveSpeaker(config.speaker_threshold)
        self.plain_taps: dict[str, PlainTap] = {}  # by tap id
        self._last_reports = 0.0
        self._last_speaker = 0.0

    def add_peer(
        self,
        peer_id: str,
        *,
        publish: bool,
        subscribe: bool,
        listener: PeerListener,
        muted_kinds: Iterable[str] = (),
    ) -> Peer:
        """A new peer; it receives nothing until it is told to `consume`. `muted_kinds`: the
        kinds its publications start muted in (see `Peer.set_muted_kinds`)."""
        if peer_id in self.peers:
            raise SfuError(f"peer {peer_id} is already in the room")
        peer = Peer(self, peer_id, publish, subscribe, listener, muted_kinds)
        self.peers[peer_id] = peer
        return peer

    async def remove_peer(self, peer_id: str) -> None:
        peer = self.peers.pop(peer_id, None)
        if peer is None:
            return
        for publication in list(peer.publications.values()):
            self._remove_publication(publication)
        await peer.close()

    def set_muted(self, publication_id: str, muted: bool) -> Publication:
        publication = self.publications.get(publication_id)
        if publication is None:
            raise SfuError(f"unknown publication {publication_id}")
        publication.set_muted(muted)
        return publication

    def tap(self, publication_id: str, max_items: int = DEFAULT_QUEUE_PACKETS) -> Tap:
        """Deliver a publication to a sidecar; the tap ends when the publication does."""
        publication = self.publications.get(publication_id)
        if publication is None:
            raise SfuError(f"unknown publication {publication_id}")
        tap = Tap(publication, max_items)
        publication.add_tap(tap)
        return tap

    def plain_tap(
        self,
        publication_id: str,
        dest: Address,
        on_ended: Callable[[PlainTap, str], None] | None = None,
    ) -> PlainTap:
        """Send a publication to a sidecar in another process, as plain RTP/RTCP to `dest` (a
        127.0.0.1 port the sidecar bound); its `sdp` tells the sidecar how to read it. It ends
        with the publication (`on_ended(tap, "publication ended")`) or `close_plain_tap`."""
        publication = self.publications.get(publication_id)
        if publication is None:
            raise SfuError(f"unknown publication {publication_id}")
        host, port = dest
        if host != "127.0.0.1" or not 0 < port < 65536:
            raise SfuError("a tap sends to a port on 127.0.0.1 only")
        taps = self.plain_taps

        def detach(ended: PlainTap) -> None:
            taps.pop(ended.id, None)

        tap = PlainTap(publication, (host, port), TapSocket.shared(), on_ended, detach=detach)
        taps[tap.id] = tap
        publication.add_tap(tap)
        return tap

    def close_plain_tap(self, tap_id: str) -> bool:
        """False when there is no such tap (it ended meanwhile)."""
        tap = self.plain_taps.get(tap_id)
        if tap is None:
            return False
        tap.close()
        return True

    def _add_publication(self, publication: Publication) -> None:
        # Nobody is subscribed here: who receives it is the listener's call (`Peer.consume`).
        self.publications[publication.id] = publication
        self.listener.on_publication(self, publication)

    def _remove_publication(self, publication: Publication) -> None:
        if self.publications.pop(publication.id, None) is None:
            return
        for subscription in list(publication.subscriptions):
            subscription.close()
        publication.end_taps()
        self.listener.on_unpublication(self, publication)
        # Only those who consumed it lose a track (its slot is freed for the next of its kind).
        for peer in list(self.peers.values()):
            if peer.placement.forget(publication.id):
                peer.sync_subscriptions()

    def tick(self, now: float) -> list[Peer]:
        """Periodic upkeep; returns peers whose media timed out (the caller removes them).

        One peer's or publication's failure is logged and must not stop the others' upkeep.
        """
        for publication in list(self.publications.values()):
            _guarded(publication.tick, now)
        if now - self._last_reports >= REPORT_INTERVAL:
            self._last_reports = now
            for peer in list(self.peers.values()):
                _guarded(peer.publishing.send_receiver_reports)
            for tap in list(self.plain_taps.values()):
                _guarded(tap.keepalive)
        if now - self._last_speaker >= self.config.speaker_interval:
            self._last_speaker = now
            if self.speaker.update(self.publications.values(), now):
                self.listener.on_active_speaker(self, self.speaker.current, self.speaker.level)
        return [p for p in self.peers.values() if p.media_timed_out(now)]

    async def close(self) -> None:
        for peer_id in list(self.peers):
            await self.remove_peer(peer_id)
        for tap in list(self.plain_taps.values()):  # normally ended with their publications
            tap.close()


def _guarded(action: Callable[..., None], *args: object) -> None:
    try:
        action(*args)
    except Exception:
        log.exception("SFU upkeep step %s failed", getattr(action, "__qualname__", action))
