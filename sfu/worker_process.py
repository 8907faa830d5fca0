"""An SFU worker in a process of its own, driven over a channel by the control plane.

Run as ``python -m sfu.worker_process --channel-fd 3 --index N`` (never through ``cloudcourt``:
it must not load the control plane). `WorkerServer` maps the channel's methods (docs/SFU.md,
"processes and channel"; names in `sfu.api`) onto one in-process `Worker`, and turns the
room's and peers' listener callbacks into events. When the channel ends — the control plane
died or closed it — the worker closes its rooms (at most `CLOSE_CAP` seconds) and the process
exits 0, so nothing is left running without a master.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, cast

from sfu import api
from sfu.api import TrackInfo
from sfu.channel import Args, Channel, NotFound
from sfu.config import SfuConfig
from sfu.errors import SfuError
from sfu.peer import Peer
from sfu.plain import LOCALHOST, PlainTap
from sfu.publication import Publication
from sfu.room import Room
from sfu.worker import Worker

log = logging.getLogger(__name__)

HEARTBEAT = 0.25
LOAD_INTERVAL = 1.0
# `publication.keyframe_requested` at most this often per publication (observability only).
KEYFRAME_REPORT_INTERVAL = 1.0
CLOSE_CAP = 5.0
# The sentence `Peer` itself uses: a request racing a close (or a re-placement) reads the same.
GONE = "the connection was closed"


class RoomRelay:
    """A room's listener: what happens in the room becomes an event on the channel."""

    def __init__(self, channel: Channel, room_id: str) -> None:
        self.channel = channel
        self.room_id = room_id

    def on_publication(self, room: Room, publication: Publication) -> None:
        if publication.kind == "video":
            KeyframeReports(self.channel, room, publication)
        self.channel.emit(
            api.EV_PUBLICATION_ADDED,
            {"room": self.room_id, "publication": publication.info().to_wire()},
        )

    def on_unpublication(self, room: Room, publication: Publication) -> None:
        self.channel.emit(
            api.EV_PUBLICATION_REMOVED,
            {"room": self.room_id, "publication": publication.info().to_wire()},
        )

    def on_active_speaker(self, room: Room, peer_id: str | None, level: int) -> None:
        self.channel.emit(
            api.EV_SPEAKER, {"room": self.room_id, "peer": peer_id, "level": level}, droppable=True
        )


class KeyframeReports:
    """`publication.keyframe_requested` each time the worker sends a publisher a keyframe request
    (PLI), at most once a KEYFRAME_REPORT_INTERVAL per publication (observability only; the
    requests themselves stay inside the worker).

    `Publication` has no listener of its own, so this wraps the publication's `request_keyframe`
    (every asker calls it: subscriptions, taps, retries, the control plane), told apart by what
    stands when it is called. The request itself is unchanged and, rate-limited by the
    publication, never on the per-packet path."""

    def __init__(self, channel: Channel, room: Room, publication: Publication) -> None:
        self.channel = channel
        self.room = room
        self.publication = publication
        self.reported_at = -KEYFRAME_REPORT_INTERVAL
        self._ask = publication.request_keyframe
        publication.request_keyframe = self.request_keyframe  # type: ignore[method-assign]

    def request_keyframe(self, force: bool = False) -> None:
        counters = self.room.counters
        sent = counters.plis_sent
        self._ask(force)
        now = time.monotonic()
        if counters.plis_sent == sent or now - self.reported_at < KEYFRAME_REPORT_INTERVAL:
            return
        self.reported_at = now
        self.channel.emit(
            api.EV_PUBLICATION_KEYFRAME_REQUESTED,
            {
                "room": self.room.id,
                "publication": self.publication.id,
                "reason": self._reason(force),
            },
            droppable=True,
        )

    def _reason(self, force: bool) -> str:
        publication = self.publication
        if force:
            return "retry"  # a subscriber still waiting after `pli_retry`
        if any(s.waiting_keyframe for s in publication.subscriptions):
            return "subscriber"
        return "tap" if publication.taps else "control"


class PeerRelay:
    def __init__(self, channel: Channel, room_id: str) -> None:
        self.channel = channel
        self.room_id = room_id

    def on_subscriber_offer(self, peer: Peer, sdp: str) -> None:
        # The tracks ride along: the control plane's listeners read them with the offer.
        self.channel.emit(
            api.EV_PEER_SUBSCRIBER_OFFER,
            {"room": self.room_id, "peer": peer.id, "sdp": sdp, "tracks": _tracks(peer.tracks())},
        )

    def on_subscriptions(self, peer: Peer, tracks: list[TrackInfo]) -> None:
        self.channel.emit(
            api.EV_PEER_SUBSCRIPTIONS,
            {"room": self.room_id, "peer": peer.id, "tracks": _tracks(tracks)},
        )

    def on_closed(self, peer: Peer, reason: str) -> None:
        self.channel.emit(
            api.EV_PEER_CLOSED, {"room": self.room_id, "peer": peer.id, "reason": reason}
        )


def _tracks(tracks: list[TrackInfo]) -> list[Args]:
    return [api.track_to_wire(t) for t in tracks]


class WorkerServer:
    """Serves the worker surface of the channel with one `Worker` (made by `worker.configure`)."""

    def __init__(self, channel: Channel, worker: Worker | None = None, index: int = 0) -> None:
        self.channel = channel
        self.worker = worker
        self.index = index
        self.shutdown = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        self._tap_drops_retired = 0  # datagrams ended taps could not send
        handlers: dict[str, Callable[[Args], Any]] = {
            api.WORKER_CONFIGURE: self.configure,
            api.WORKER_STATS: lambda a: self.stats(),
            api.WORKER_SHUTDOWN: self.shutdown_request,
            api.ROOM_CREATE: self.room_create,
            api.ROOM_CLOSE: self.room_close,
            api.PEER_CREATE: self.peer_create,
            api.PEER_CLOSE: self.peer_close,
            api.PEER_PUBLISHER_OFFER: self.publisher_offer,
            api.PEER_SUBSCRIBER_ANSWER: self.subscriber_answer,
            api.PEER_WHEP_OFFER: self.whep_offer,
            api.PEER_ICE_CANDIDATE: self.ice_candidate,
            api.PEER_PAUSE: self.pause,
            api.PEER_CONSUME: self.consume,
            api.PEER_UNCONSUME: self.unconsume,
            api.PEER_MUTED_KINDS: self.muted_kinds,
            api.PUBLICATION_MUTE: self.publication_mute,
            api.PUBLICATION_KEYFRAME: self.publication_keyframe,
            api.TAP_OPEN: self.tap_open,
            api.TAP_CLOSE: self.tap_close,
        }
        for method, handler in handlers.items():
            channel.on_request(method, handler)
        if worker is not None:
            self._start()

    # -- the worker ---------------------------------------------------------------------------

    def configure(self, a: Args) -> Args:
        if self.worker is not None:
            raise SfuError("this worker is already configured")
        self.index = int(a.get("index", self.index))
        # Worker() applies aiortc's process-wide patches here, in this freshly exec'd process.
        self.worker = Worker(SfuConfig.from_wire(a.get("config") or {}))
        self._start()
        return {"pid": os.getpid()}

    def _start(self) -> None:
        # `ready` follows the reply to `worker.configure`, which the channel writes on return.
        asyncio.get_running_loop().call_soon(
            self.channel.emit, api.EV_READY, {"index": self.index, "pid": os.getpid()}
        )
        self._ticker = asyncio.ensure_future(self._tick())

    def _worker(self) -> Worker:
        if self.worker is None:
            raise SfuError("this worker is not configured yet")
        return self.worker

    async def _tick(self) -> None:
        """Heartbeat (with how late this loop's own timer fired) and load, both droppable."""
        expected = time.monotonic() + HEARTBEAT
        next_load = time.monotonic() + LOAD_INTERVAL
        while True:
            await asyncio.sleep(max(0.0, expected - time.monotonic()))
            now = time.monotonic()
            lag = max(0.0, now - expected)
            expected = now + HEARTBEAT
            self.channel.emit(
                api.EV_HEARTBEAT, {"t": now, "lag_ms": round(lag * 1000, 2)}, droppable=True
            )
            if now >= next_load:
                next_load = now + LOAD_INTERVAL
                try:
                    load = {"counters": self.stats(), "rooms": self._worker().load()}
                except Exception:  # a bug in a report must not stop the heartbeat
                    log.exception("worker %d: load report failed", self.index)
                    continue
                self.channel.emit(api.EV_LOAD, load, droppable=True)

    def stats(self) -> dict[str, int]:
        """`Worker.stats()` plus the plain taps: how many, and the datagrams they dropped."""
        worker = self._worker()
        taps = [t for room in worker.rooms.values() for t in room.plain_taps.values()]
        return {
            **worker.stats(),
            "taps": len(taps),
            "tap_send_drops": self._tap_drops_retired + sum(t.dropped for t in taps),
        }

    def shutdown_request(self, a: Args) -> Args:
        # Reply first; the process closes its rooms and exits once the reply is on its way.
        asyncio.get_running_loop().call_soon(self.shutdown.set)
        return {}

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.worker is not None:
            try:
                async with asyncio.timeout(CLOSE_CAP):
                    await self.worker.close()
            except TimeoutError:
                log.warning("worker %d: closing its rooms took over %.0f s", self.index, CLOSE_CAP)

    # -- lookups ------------------------------------------------------------------------------

    def _room(self, a: Args) -> Room:
        room = self._worker().get_room(str(a.get("room")))
        if room is None:
            raise NotFound(GONE)
        return room

    def _peer(self, a: Args) -> Peer:
        peer = self._room(a).peers.get(str(a.get("peer")))
        if peer is None or peer.closed:
            raise NotFound(GONE)
        return peer

    # -- rooms and peers ----------------------------------------------------------------------

    def room_create(self, a: Args) -> None:
        room_id = str(a["room"])
        self._worker().room(room_id, RoomRelay(self.channel, room_id))

    async def room_close(self, a: Args) -> Args:
        await self._worker().close_room(str(a["room"]))
        return {}

    def peer_create(self, a: Args) -> None:
        room = self._room(a)
        room.add_peer(
            str(a["peer"]),
            publish=bool(a.get("publish")),
            subscribe=bool(a.get("subscribe")),
            listener=PeerRelay(self.channel, room.id),
            # Applied before the first packet of its publications: a standing mute never leaks.
            muted_kinds=[str(k) for k in a.get("muted_kinds") or ()],
        )

    async def peer_close(self, a: Args) -> Args:
        room = self._worker().get_room(str(a.get("room")))
        if room is not None:  # closing what is already gone is done
            await room.remove_peer(str(a["peer"]))
        return {}

    # -- negotiation --------------------------------------------------------------------------

    def publisher_offer(self, a: Args) -> Awaitable[Args]:
        peer = self._peer(a)  # looked up now, in arrival order
        sources = a.get("sources")
        return _result(
            peer.publisher_offer(
                str(a["sdp"]),
                consent_checks=bool(a.get("consent_checks", True)),
                sources={str(k): str(v) for k, v in sources.items()} if sources else None,
            ),
            lambda sdp: {"sdp": sdp},
        )

    async def subscriber_answer(self, a: Args) -> Args:
        await self._peer(a).subscriber_answer(str(a["sdp"]))
        return {}

    def whep_offer(self, a: Args) -> Awaitable[Args]:
        peer = self._peer(a)
        ids = [str(p) for p in a.get("publications") or ()]
        return _result(peer.whep_offer(str(a["sdp"]), ids), lambda sdp: {"sdp": sdp})

    async def ice_candidate(self, a: Args) -> Args:
        target = a.get("target")
        if target not in ("publisher", "subscriber"):
            raise SfuError("target must be 'publisher' or 'subscriber'")
        index = a.get("sdp_mline_index")
        await self._peer(a).add_ice_candidate(
            cast(Literal["publisher", "subscriber"], target),
            str(a.get("candidate") or ""),
            None if a.get("sdp_mid") is None else str(a["sdp_mid"]),
            None if index is None else int(index),
        )
        return {}

    def pause(self, a: Args) -> Args:
        return {"ok": self._peer(a).pause_subscription(str(a["publication"]), bool(a["paused"]))}

    def consume(self, a: Args) -> None:
        self._peer(a).consume([str(p) for p in a.get("publications") or ()])

    def unconsume(self, a: Args) -> None:
        self._peer(a).unconsume([str(p) for p in a.get("publications") or ()])

    def muted_kinds(self, a: Args) -> None:
        self._peer(a).set_muted_kinds([str(k) for k in a.get("kinds") or ()])

    # -- publications -------------------------------------------------------------------------

    def publication_mute(self, a: Args) -> None:
        room = self._room(a)
        publication = room.set_muted(str(a["publication"]), bool(a["muted"]))
        # The echo keeps the control plane's mirror of the mute state authoritative.
        self.channel.emit(
            api.EV_PUBLICATION_MUTED,
            {"room": room.id, "publication": publication.id, "muted": publication.muted},
        )

    def publication_keyframe(self, a: Args) -> None:
        publication = self._room(a).publications.get(str(a["publication"]))
        if publication is None:
            raise NotFound(GONE)
        publication.request_keyframe()

    # -- taps ---------------------------------------------------------------------------------

    def tap_open(self, a: Args) -> Args:
        room = self._room(a)
        room_id = room.id

        def ended(tap: PlainTap, reason: str) -> None:
            self._tap_drops_retired += tap.dropped
            self.channel.emit(
                api.EV_TAP_ENDED,
                {"room": room_id, "tap": tap.id, "reason": reason, "dropped": tap.dropped},
            )

        publication = str(a["publication"])
        if publication not in room.publications:
            raise NotFound(f"unknown publication {publication}")
        tap = room.plain_tap(publication, (str(a.get("host", LOCALHOST)), int(a["port"])), ended)
        return {"tap": tap.id, "sdp": tap.sdp}

    def tap_close(self, a: Args) -> None:
        # A tap that ended meanwhile is no error: its `tap.ended` is already on its way.
        self._room(a).close_plain_tap(str(a["tap"]))


async def _result(pending: Awaitable[Any], wrap: Callable[[Any], Args]) -> Args:
    return wrap(await pending)


async def serve(channel_fd: int, index: int) -> int:
    channel = await Channel.from_fd(channel_fd, f"sfu-worker-{index}")
    server = WorkerServer(channel, index=index)
    reader = asyncio.ensure_future(channel.run())
    stop = asyncio.ensure_future(server.shutdown.wait())
    await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
    why = "shutdown" if stop.done() else f"channel {channel.closed.result()}"
    log.info("sfu worker %d (pid %d) stopping: %s", index, os.getpid(), why)
    stop.cancel()
    await server.close()
    await channel.close()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sfu.worker_process", description="An SFU worker driven over a channel."
    )
    parser.add_argument("--channel-fd", type=int, required=True, help="the inherited socket")
    parser.add_argument("--index", type=int, default=0, help="this worker's number in the pool")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s sfu-worker-{args.index} %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    # As `cloudcourt serve` does: aiortc/aioice narrate every ICE check at INFO.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # A Ctrl-C at the terminal reaches the whole process group: the control plane decides
    # when the workers go (its shutdown request, or its channel's end when it is gone).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return asyncio.run(serve(args.channel_fd, args.index))


if __name__ == "__main__":
    sys.exit(main())
