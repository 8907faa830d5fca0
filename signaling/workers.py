"""The SFU as the control plane sees it: a pool of workers that hosts each hearing's room.

Call sites (registry, presence, negotiation, moderation, WHIP/WHEP, the SFU listeners) speak to
`RoomHandle`/`PeerHandle` only, never to `sfu.Room`/`sfu.Peer`, so the same code drives an
in-process `sfu.Worker` (`LocalPool`: unit tests, the default until the sidecars read taps over
plain RTP) and worker processes (`WorkerPool`, design17 §5).

The handles' surface is the in-process one — synchronous where the SFU answers synchronously
today (`consume`, `set_muted`, `pause_subscription`, `publications`) — so a remote handle keeps
mirrors and sends notifies; an `sfu.Room` and `sfu.Peer` are handles as they are. Listeners are
called with the handle, which keeps `PeerEvents._deliverable`'s identity check working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sfu import (
    ChannelClosed,
    PublicationInfo,
    RemoteWorker,
    SfuConfig,
    SfuError,
    TrackInfo,
    Worker,
    api,
)
from sfu.channel import Args
from signaling.supervisor import Child, ChildSpec

log = logging.getLogger("cloudcourt.workers")

# What a request to a worker that died says to the participant (then `media_reset` follows).
RESTARTED = "the media server restarted; you are being reconnected"
TOO_SLOW = "the media server did not answer in time"
# A subscriber of two 30 fps publishers receives ~190 packets/s: a new peer weighs about that much
# until the next `load` report counts it (so a burst of new hearings spreads out).
PEER_WEIGHT = 200.0
# A hearing has outgrown its worker when the worker used >= OUTGROWN_CPU of a core over the last
# OUTGROWN_WINDOW seconds and the hearing sent >= OUTGROWN_SHARE of its packets.
OUTGROWN_CPU = 0.9
OUTGROWN_SHARE = 0.5
OUTGROWN_WINDOW = 5.0


class PublicationView(Protocol):
    """What the control plane reads of a publication (`sfu.Publication` or a mirrored
    `sfu.PublicationInfo`)."""

    @property
    def id(self) -> str: ...
    @property
    def peer_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def codec(self) -> str: ...
    @property
    def muted(self) -> bool: ...
    @property
    def source(self) -> str: ...


class PeerHandle(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def can_subscribe(self) -> bool: ...

    async def publisher_offer(
        self, sdp: str, consent_checks: bool = True, sources: dict[str, str] | None = None
    ) -> str: ...
    async def subscriber_answer(self, sdp: str) -> None: ...
    async def whep_offer(self, sdp: str, publication_ids: Iterable[str]) -> str: ...
    async def add_ice_candidate(
        self,
        target: Literal["publisher", "subscriber"],
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None: ...
    def consume(self, publication_ids: Iterable[str]) -> None: ...
    def unconsume(self, publication_ids: Iterable[str]) -> None: ...
    def pause_subscription(self, publication_id: str, paused: bool) -> bool: ...
    def set_muted_kinds(self, kinds: Iterable[str]) -> None: ...
    def tracks(self) -> list[TrackInfo]: ...


class PeerEventsListener(Protocol):
    def on_subscriber_offer(self, peer: Any, sdp: str) -> None: ...
    def on_subscriptions(self, peer: Any, tracks: list[TrackInfo]) -> None: ...
    def on_closed(self, peer: Any, reason: str) -> None: ...


class RoomHandle(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def publications(self) -> Mapping[str, PublicationView]: ...
    @property
    def peers(self) -> Mapping[str, PeerHandle]: ...

    def add_peer(
        self,
        peer_id: str,
        *,
        publish: bool,
        subscribe: bool,
        listener: Any,
        muted_kinds: Iterable[str] = (),
    ) -> PeerHandle: ...
    async def remove_peer(self, peer_id: str) -> None: ...
    def set_muted(self, publication_id: str, muted: bool) -> PublicationView: ...


class RoomEventsListener(Protocol):
    def on_publication(self, room: Any, publication: Any) -> None: ...
    def on_unpublication(self, room: Any, publication: Any) -> None: ...
    def on_active_speaker(self, room: Any, peer_id: str | None, level: int) -> None: ...

    def on_lost(self, room: Any, reason: str) -> None: ...


class Pool(Protocol):
    """Where hearings' rooms live. `room()` places a hearing on first use."""

    @property
    def in_process(self) -> bool: ...

    def room(self, hearing_id: str, listener: RoomEventsListener) -> RoomHandle: ...
    def get_room(self, hearing_id: str) -> RoomHandle | None: ...
    async def close_room(self, hearing_id: str) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def worker_stats(self) -> dict[str, dict[str, int | float]]: ...
    def describe(self) -> dict[str, Any]: ...
    def readiness(self) -> tuple[int, int]: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class LocalPool:
    """One in-process `sfu.Worker`: its rooms and peers are the handles themselves."""

    in_process = True

    def __init__(self, config: SfuConfig | None = None, worker: Worker | None = None) -> None:
        self.worker = worker if worker is not None else Worker(config)

    def room(self, hearing_id: str, listener: RoomEventsListener) -> RoomHandle:
        return self.worker.room(hearing_id, listener)

    def get_room(self, hearing_id: str) -> RoomHandle | None:
        return self.worker.get_room(hearing_id)

    async def close_room(self, hearing_id: str) -> None:
        await self.worker.close_room(hearing_id)

    def stats(self) -> dict[str, int]:
        return self.worker.stats()

    def worker_stats(self) -> dict[str, dict[str, int | float]]:
        return {}  # no worker process: the figures are the unlabelled `stats()`

    def describe(self) -> dict[str, Any]:
        return {
            "workers": [],
            "placement": {"policy": "in_process", "outgrown_hearings": 0, "replacements": 0},
        }

    def readiness(self) -> tuple[int, int]:
        return (1, 1)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.worker.close()


# -- worker processes -------------------------------------------------------------------------


class RemotePeer:
    """A peer in a worker process. Synchronous calls are notifies; `tracks()` and the answer of
    `pause_subscription` come from the mirror the worker's events keep."""

    def __init__(
        self, room: RemoteRoom, peer_id: str, publish: bool, subscribe: bool, listener: Any
    ) -> None:
        self.room = room
        self.id = peer_id
        self.can_publish = publish
        self.can_subscribe = subscribe
        self.listener = listener
        self.consumed: set[str] = set()
        self.closed = False
        self._tracks: list[TrackInfo] = []

    def _args(self, **more: Any) -> Args:
        return {"room": self.room.id, "peer": self.id, **more}

    def _check_open(self) -> None:
        if self.closed or self.room.dead:
            raise SfuError("the connection was closed")

    async def _request(self, method: str, args: Args) -> Any:
        self._check_open()
        try:
            return await self.room.slot.request(method, args)
        except ChannelClosed:
            raise SfuError(RESTARTED) from None
        except TimeoutError:
            raise SfuError(TOO_SLOW) from None

    async def publisher_offer(
        self, sdp: str, consent_checks: bool = True, sources: dict[str, str] | None = None
    ) -> str:
        reply = await self._request(
            api.PEER_PUBLISHER_OFFER,
            self._args(sdp=sdp, consent_checks=consent_checks, sources=sources or {}),
        )
        return str(reply["sdp"])

    async def subscriber_answer(self, sdp: str) -> None:
        await self._request(api.PEER_SUBSCRIBER_ANSWER, self._args(sdp=sdp))

    async def whep_offer(self, sdp: str, publication_ids: Iterable[str]) -> str:
        ids = list(publication_ids)
        reply = await self._request(api.PEER_WHEP_OFFER, self._args(sdp=sdp, publications=ids))
        self.consumed.update(ids)
        return str(reply["sdp"])

    async def add_ice_candidate(
        self,
        target: Literal["publisher", "subscriber"],
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        await self._request(
            api.PEER_ICE_CANDIDATE,
            self._args(
                target=target,
                candidate=candidate,
                sdp_mid=sdp_mid,
                sdp_mline_index=sdp_mline_index,
            ),
        )

    def consume(self, publication_ids: Iterable[str]) -> None:
        if not self.can_subscribe:
            raise SfuError("this participant may not subscribe")
        self._check_open()
        ids = [i for i in publication_ids if i in self.room.publications]
        self.consumed.update(ids)
        self.room.slot.notify(api.PEER_CONSUME, self._args(publications=ids))

    def unconsume(self, publication_ids: Iterable[str]) -> None:
        if not self.can_subscribe:
            raise SfuError("this participant may not subscribe")
        self._check_open()
        ids = list(publication_ids)
        self.consumed.difference_update(ids)
        self.room.slot.notify(api.PEER_UNCONSUME, self._args(publications=ids))

    def pause_subscription(self, publication_id: str, paused: bool) -> bool:
        # The worker answers the same from the same facts: whether this peer is subscribed.
        if self.closed or not any(t.publication_id == publication_id for t in self._tracks):
            return False
        self.room.slot.notify(api.PEER_PAUSE, self._args(publication=publication_id, paused=paused))
        return True

    def set_muted_kinds(self, kinds: Iterable[str]) -> None:
        self.room.slot.notify(api.PEER_MUTED_KINDS, self._args(kinds=sorted(set(kinds))))

    def tracks(self) -> list[TrackInfo]:
        return list(self._tracks)


class RemoteRoom:
    """A hearing's room on one worker process, with mirrors of its publications and peers."""

    def __init__(self, slot: WorkerSlot, room_id: str, listener: RoomEventsListener) -> None:
        self.slot = slot
        self.id = room_id
        self.listener = listener
        self.publications: dict[str, PublicationInfo] = {}
        self.peers: dict[str, RemotePeer] = {}
        self.dead = False  # its worker died: events and calls go nowhere
        self.forwarded_pps = 0.0
        self.packets_out = 0
        self.outgrown = False
        slot.notify(api.ROOM_CREATE, {"room": room_id})

    def add_peer(
        self,
        peer_id: str,
        *,
        publish: bool,
        subscribe: bool,
        listener: Any,
        muted_kinds: Iterable[str] = (),
    ) -> RemotePeer:
        if self.dead:
            raise SfuError(RESTARTED)
        if peer_id in self.peers:
            raise SfuError(f"peer {peer_id} is already in the room")
        peer = RemotePeer(self, peer_id, publish, subscribe, listener)
        self.peers[peer_id] = peer
        self.slot.pending_peers += 1
        self.slot.notify(
            api.PEER_CREATE,
            {
                "room": self.id,
                "peer": peer_id,
                "publish": publish,
                "subscribe": subscribe,
                "muted_kinds": sorted(set(muted_kinds)),
            },
        )
        return peer

    async def remove_peer(self, peer_id: str) -> None:
        peer = self.peers.pop(peer_id, None)
        if peer is None:
            return
        peer.closed = True
        if self.dead:
            return
        with contextlib.suppress(ChannelClosed, TimeoutError):
            await self.slot.request(api.PEER_CLOSE, {"room": self.id, "peer": peer_id})

    def set_muted(self, publication_id: str, muted: bool) -> PublicationInfo:
        info = self.publications.get(publication_id)
        if info is None:
            raise SfuError(f"no publication {publication_id}")
        info = self.publications[publication_id] = info.with_muted(muted)
        self.slot.notify(
            api.PUBLICATION_MUTE, {"room": self.id, "publication": publication_id, "muted": muted}
        )
        return info

    def request_keyframe(self, publication_id: str) -> None:
        self.slot.notify(api.PUBLICATION_KEYFRAME, {"room": self.id, "publication": publication_id})

    # -- events from the worker ---------------------------------------------------------------

    def event(self, name: str, a: Args) -> None:
        if self.dead:
            return
        if name == api.EV_PUBLICATION_ADDED:
            info = PublicationInfo.from_wire(a["publication"])
            self.publications[info.id] = info
            self.listener.on_publication(self, info)
        elif name == api.EV_PUBLICATION_REMOVED:
            info = PublicationInfo.from_wire(a["publication"])
            known = self.publications.pop(info.id, None)
            for peer in self.peers.values():
                peer.consumed.discard(info.id)
            self.listener.on_unpublication(self, known or info)
        elif name == api.EV_PUBLICATION_MUTED:
            known = self.publications.get(str(a["publication"]))
            if known is not None:
                self.publications[known.id] = known.with_muted(bool(a["muted"]))
        elif name == api.EV_SPEAKER:
            speaker = a.get("peer")
            self.listener.on_active_speaker(
                self, None if speaker is None else str(speaker), int(a.get("level", 0))
            )
        else:
            found = self.peers.get(str(a.get("peer")))
            if found is None or found.closed:
                return
            peer = found
            if name == api.EV_PEER_SUBSCRIBER_OFFER:
                peer._tracks = [api.track_from_wire(t) for t in a.get("tracks") or ()]
                peer.listener.on_subscriber_offer(peer, str(a["sdp"]))
            elif name == api.EV_PEER_SUBSCRIPTIONS:
                peer._tracks = [api.track_from_wire(t) for t in a.get("tracks") or ()]
                peer.listener.on_subscriptions(peer, peer.tracks())
            elif name == api.EV_PEER_CLOSED:
                peer.closed = True
                peer.listener.on_closed(peer, str(a.get("reason", "closed")))

    def lost(self, reason: str) -> None:
        """The worker died: its publications end (told as when their peers close in-process, so
        participants drop them before the new ones come), then every peer is closed with
        `reason`, which re-places them (their listeners run `Presence.peer_closed` /
        `end_playback`, as after an ICE failure)."""
        self.dead = True
        for info in list(self.publications.values()):
            del self.publications[info.id]
            try:
                self.listener.on_unpublication(self, info)
            except Exception:
                log.exception("room %s: ending publication %s failed", self.id, info.id)
        try:
            self.listener.on_lost(self, reason)
        except Exception:
            log.exception("room %s: reporting its loss failed", self.id)
        for peer in list(self.peers.values()):
            if peer.closed:
                continue
            peer.closed = True
            try:
                peer.listener.on_closed(peer, reason)
            except Exception:
                log.exception("room %s: closing peer %s failed", self.id, peer.id)


_ROOM_EVENTS = (
    api.EV_PUBLICATION_ADDED,
    api.EV_PUBLICATION_REMOVED,
    api.EV_PUBLICATION_MUTED,
    api.EV_SPEAKER,
    api.EV_PEER_SUBSCRIBER_OFFER,
    api.EV_PEER_SUBSCRIPTIONS,
    api.EV_PEER_CLOSED,
)


class WorkerSlot:
    """Worker `index` of the pool: its supervised process and the rooms placed on it. Calls made
    while it restarts wait (requests) or queue (notifies) until it is ready again."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.rooms: dict[str, RemoteRoom] = {}
        self.pending_peers = 0
        self.forwarded_pps = 0.0
        self.peers = 0
        self.lag_max_ms = 0.0
        # Counted here, not in the process, so they survive its restarts.
        self.keyframe_requests = 0  # `publication.keyframe_requested` reports
        self.replacements = 0  # hearings re-placed elsewhere after this worker was lost
        self._lags: list[tuple[float, float]] = []
        self._last_out: tuple[float, int] | None = None
        self._queue: list[tuple[str, Args]] = []
        self._cpu: deque[tuple[float, float]] = deque()
        self.cpu_ratio = 0.0
        self.child: Child[RemoteWorker] = Child(
            ChildSpec(f"sfu-worker-{index}", heartbeat_timeout=pool.heartbeat_timeout),
            self._spawn,
            on_ready=self._ready,
            on_lost=self._lost,
        )

    @property
    def worker(self) -> RemoteWorker | None:
        return self.child.current if self.child.ready else None

    async def _spawn(self) -> RemoteWorker:
        worker = await RemoteWorker.spawn(
            self.index, self.pool.config, argv=self.pool.argv(self.index)
        )
        for event in _ROOM_EVENTS:
            worker.on(event, self._dispatcher(event))
        worker.on(api.EV_HEARTBEAT, self._heartbeat)
        worker.on(api.EV_LOAD, self._load)
        worker.on(api.EV_PUBLICATION_KEYFRAME_REQUESTED, self._keyframe_requested)
        return worker

    def _keyframe_requested(self, a: Args) -> None:
        self.keyframe_requests += 1

    def _dispatcher(self, event: str) -> Callable[[Args], None]:
        def dispatch(a: Args) -> None:
            room = self.rooms.get(str(a.get("room")))
            if room is not None:
                room.event(event, a)

        return dispatch

    def _heartbeat(self, a: Args) -> None:
        now = time.monotonic()
        self._lags.append((now, float(a.get("lag_ms", 0.0))))
        self._lags = [(t, lag) for t, lag in self._lags if now - t <= 1.0]
        self.lag_max_ms = max(lag for _, lag in self._lags)

    def _load(self, a: Args) -> None:
        now = time.monotonic()
        out = int((a.get("counters") or {}).get("packets_out", 0))
        previous = self._last_out
        dt = 0.0 if previous is None else now - previous[0]
        if previous is not None and dt > 0:
            self.forwarded_pps = max(0, out - previous[1]) / dt
        self._last_out = (now, out)
        rooms: dict[str, Any] = a.get("rooms") or {}
        self.peers = sum(int(r.get("peers", 0)) for r in rooms.values())
        self.pending_peers = 0
        for room_id, figures in rooms.items():
            room = self.rooms.get(room_id)
            if room is None:
                continue
            packets = int(figures.get("packets_out", 0))
            if previous is not None and dt > 0 and room.packets_out:
                room.forwarded_pps = max(0, packets - room.packets_out) / dt
            room.packets_out = packets
        self._sample_cpu(now)

    def _sample_cpu(self, now: float) -> None:
        """CPU share over the last OUTGROWN_WINDOW seconds, and which hearings outgrew it: the
        worker near a whole core and the hearing sending at least half its packets (moving the
        others away would not save it). Reported, not acted on."""
        self._cpu.append((now, self.child.cpu_seconds()))
        while len(self._cpu) > 2 and now - self._cpu[1][0] >= OUTGROWN_WINDOW:
            self._cpu.popleft()
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        self.cpu_ratio = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        busy = self.cpu_ratio >= OUTGROWN_CPU and t1 - t0 >= OUTGROWN_WINDOW * 0.8
        for room in self.rooms.values():
            share = room.forwarded_pps / self.forwarded_pps if self.forwarded_pps else 0.0
            outgrown = busy and share >= OUTGROWN_SHARE
            if outgrown != room.outgrown:
                log.warning(
                    "hearing %s on sfu-worker-%d %s (worker CPU %.2f, its share %.0f %%)",
                    room.id,
                    self.index,
                    "has outgrown its worker" if outgrown else "fits its worker again",
                    self.cpu_ratio,
                    share * 100,
                )
            room.outgrown = outgrown

    def _ready(self, child: Child[RemoteWorker]) -> None:
        self._last_out = None
        self._cpu.clear()  # a new process: its CPU time starts at 0
        queued, self._queue = self._queue, []
        worker = child.current
        assert worker is not None
        for method, args in queued:
            worker.notify(method, args)
        self.pool.ready_changed()

    def _lost(self, child: Child[RemoteWorker], reason: str) -> None:
        # What was queued belonged to the rooms that die now.
        self._queue.clear()
        self.forwarded_pps = 0.0
        self.peers = self.pending_peers = 0
        rooms, self.rooms = self.rooms, {}
        self.pool.rooms_lost(self, list(rooms.values()), reason)

    # -- calls --------------------------------------------------------------------------------

    def notify(self, method: str, args: Args) -> None:
        worker = self.worker
        if worker is None:
            self._queue.append((method, args))
        else:
            worker.notify(method, args)

    async def request(self, method: str, args: Args) -> Any:
        worker = self.worker
        if worker is None:
            if not await self.child.wait_ready(self.pool.config_ready_timeout):
                raise ChannelClosed(f"sfu-worker-{self.index} is not ready")
            worker = self.child.current
            assert worker is not None
        return await worker.request(method, args)

    def score(self) -> tuple[float, int, int]:
        peers = self.peers + self.pending_peers
        return (self.forwarded_pps + PEER_WEIGHT * peers, len(self.rooms), self.index)


class WorkerPool:
    """N supervised SFU worker processes and the placement of hearings on them."""

    in_process = False

    def __init__(
        self,
        config: SfuConfig,
        count: int,
        *,
        heartbeat_timeout: float = 2.0,
        python: str | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.config = config
        self.heartbeat_timeout = heartbeat_timeout
        self.config_ready_timeout = 30.0
        self._python = python
        self.slots = [WorkerSlot(self, i) for i in range(count)]
        self.placement: dict[str, WorkerSlot] = {}  # hearing → worker (a Redis map in issue 14)
        self._started = False

    def argv(self, index: int) -> list[str]:
        from sfu.remote import worker_argv

        return worker_argv(index) if self._python is None else worker_argv(index, self._python)

    async def start(self) -> None:
        """Spawn every worker; returns once all are ready."""
        await asyncio.gather(*(slot.child.start() for slot in self.slots))
        self._started = True

    async def close(self) -> None:
        async def shutdown(worker: RemoteWorker) -> object:
            return await worker.shutdown(grace=5.0)

        await asyncio.gather(
            *(slot.child.stop(shutdown) for slot in self.slots), return_exceptions=True
        )

    def ready_changed(self) -> None:
        return None

    def readiness(self) -> tuple[int, int]:
        return (sum(1 for s in self.slots if s.child.ready), len(self.slots))

    # -- placement ----------------------------------------------------------------------------

    def choose(self) -> WorkerSlot:
        ready = [s for s in self.slots if s.child.ready]
        if not ready:
            # All restarting (one worker, respawning): its calls wait until it is back.
            ready = [s for s in self.slots if s.child.state in ("restarting", "starting")]
        if not ready:
            raise SfuError("no media server is available")
        return min(ready, key=WorkerSlot.score)

    def room(self, hearing_id: str, listener: RoomEventsListener) -> RemoteRoom:
        slot = self.placement.get(hearing_id)
        if slot is not None:
            existing = slot.rooms.get(hearing_id)
            if existing is not None:
                return existing
        slot = self.choose()
        room = RemoteRoom(slot, hearing_id, listener)
        slot.rooms[hearing_id] = room
        self.placement[hearing_id] = slot
        log.info("hearing %s placed on sfu-worker-%d", hearing_id, slot.index)
        return room

    def get_room(self, hearing_id: str) -> RemoteRoom | None:
        slot = self.placement.get(hearing_id)
        return None if slot is None else slot.rooms.get(hearing_id)

    async def close_room(self, hearing_id: str) -> None:
        slot = self.placement.pop(hearing_id, None)
        room = None if slot is None else slot.rooms.pop(hearing_id, None)
        if slot is None or room is None:
            return
        room.dead = True
        with contextlib.suppress(ChannelClosed, TimeoutError):
            await slot.request(api.ROOM_CLOSE, {"room": hearing_id})

    async def open_tap(
        self, hearing_id: str, publication_id: str, host: str, port: int
    ) -> dict[str, Any]:
        """A plain-RTP tap of a publication of the hearing, sent to a sidecar's `host:port`
        (a `sfu.plain.UdpTapSource`): `{tap, sdp}`. Raises SfuError when the hearing has no
        room or its worker does not know the publication (ended, or the worker restarted)."""
        room = self.get_room(hearing_id)
        if room is None or room.dead:
            raise SfuError(f"hearing {hearing_id} has no media now")
        try:
            reply: dict[str, Any] = await room.slot.request(
                api.TAP_OPEN,
                {"room": hearing_id, "publication": publication_id, "host": host, "port": port},
            )
        except ChannelClosed:
            raise SfuError(RESTARTED) from None
        return reply

    def close_tap(self, hearing_id: str, tap_id: str) -> None:
        room = self.get_room(hearing_id)
        if room is not None and not room.dead:
            room.slot.notify(api.TAP_CLOSE, {"room": hearing_id, "tap": tap_id})

    def rooms_lost(self, slot: WorkerSlot, rooms: list[RemoteRoom], reason: str) -> None:
        for room in rooms:
            if self.placement.get(room.id) is slot:
                del self.placement[room.id]
            slot.replacements += 1
            room.lost(f"media server restarted ({reason})")

    # -- figures ------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """The sum over workers of their last `load` counters (the unlabelled families)."""
        total: dict[str, int] = {}
        for slot in self.slots:
            worker = slot.child.current
            load = None if worker is None else worker.load
            for key, value in ((load or {}).get("counters") or {}).items():
                total[key] = total.get(key, 0) + int(value)
        return total

    def worker_stats(self) -> dict[str, dict[str, int | float]]:
        out: dict[str, dict[str, int | float]] = {}
        for slot in self.slots:
            child = slot.child
            worker = child.current
            counters = ((None if worker is None else worker.load) or {}).get("counters") or {}
            age = child.heartbeat_age()
            out[str(slot.index)] = {
                **{k: int(v) for k, v in counters.items()},
                "worker_up": 1 if child.ready else 0,
                "worker_restarts": child.restarts,
                "worker_cpu_seconds": child.cpu_seconds(),
                "worker_rss_bytes": child.rss_bytes(),
                "worker_heartbeat_age_seconds": 0.0 if age is None else age,
                "worker_loop_lag_seconds": slot.lag_max_ms / 1000,
                "worker_forwarded_packets_per_second": slot.forwarded_pps,
                "keyframe_requests": slot.keyframe_requests,
                "placement_hearings": len(slot.rooms),
                "placement_outgrown": sum(1 for r in slot.rooms.values() if r.outgrown),
                "placement_replacements": slot.replacements,
            }
        return out

    def describe(self) -> dict[str, Any]:
        workers = []
        for slot in self.slots:
            child = slot.child
            age = child.heartbeat_age()
            workers.append(
                {
                    "index": slot.index,
                    "pid": child.pid,
                    "state": child.state,
                    "started_at": _iso(child.started_at),
                    "restarts": child.restarts,
                    "last_exit": child.last_exit,
                    "rss_bytes": child.rss_bytes(),
                    "cpu_seconds": child.cpu_seconds(),
                    "cpu_ratio": round(slot.cpu_ratio, 3),
                    "heartbeat_age_ms": None if age is None else round(age * 1000, 1),
                    "loop_lag_ms": slot.lag_max_ms,
                    "rooms": len(slot.rooms),
                    "peers": slot.peers,
                    "forwarded_pps": round(slot.forwarded_pps, 1),
                    "hearings": [
                        {
                            "id": room.id,
                            "peers": len(room.peers),
                            "forwarded_pps": room.forwarded_pps,
                            "outgrown": room.outgrown,
                        }
                        for room in slot.rooms.values()
                    ],
                }
            )
        return {
            "workers": workers,
            "placement": {
                "policy": "least_loaded",
                "outgrown_hearings": sum(r.outgrown for s in self.slots for r in s.rooms.values()),
                "replacements": sum(slot.replacements for slot in self.slots),
            },
        }


def _iso(wall: float) -> str | None:
    if not wall:
        return None
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
