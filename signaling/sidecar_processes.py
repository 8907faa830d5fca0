"""Sidecars (the recorder, the livestream) in processes of their own: both ends of their channel.

Served with SFU worker processes (`--sfu-workers N`), each sidecar runs as `cloudcourt <name>
--channel-fd 3 --data-dir D ...` under a `supervisor.Child` (restarted with backoff, a kill -9
seen at the channel's EOF, a wedged loop by its silent heartbeat), at nice 10 so that it never
takes CPU from a worker forwarding media (the child lowers its own priority first thing: no
`preexec_fn` in a threaded parent).

Control plane side, `SidecarProcess`: the `Sidecar` protocol's calls become channel notifies
(hearings, participants and publications as JSON); the child's `tap.open` requests are answered
with `WorkerPool.open_tap` (the worker sends plain RTP to the port the child bound), and its taps
are closed on the workers when it dies. After each (re)start it sends `sidecar.start` with the
hearings its start looks at (those not ended, unless it says otherwise), then replays the
present: `hearing.changed` for every hearing not ended and `publication.added` for every
publication now in a room, so a restarted sidecar picks up what it missed. Calls made while it
is down are dropped: the replay covers them.

Child side, `run_child`: builds the sidecar with a `SidecarHost` (its tap opener, its hearing
lookup, its alarms), serves the protocol, sends `hb` and `load`, and ends on the channel's EOF
(the control plane is gone) after closing the sidecar.

Channel surface (design17 §4): cp → child notifies `hearing.changed`/`hearing.ended` {hearing},
`publication.added` {hearing, participant, publication}, `publication.removed` {hearing,
publication}, `media.interrupted` {hearing, at, reason}, `room.changed` {hearing, change};
requests `sidecar.start` {hearings}, `sidecar.close` {}. Child → cp requests `tap.open`
{hearing, publication, port} → {tap, sdp}, `hearing.get` {id} → Hearing JSON | null; notify
`tap.close` {hearing, tap}; events `ready`, `hb`, `load`, `alarm` {hearing, alarm}. A sidecar
adds its own (signaling/remote_recorder.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sfu import PublicationInfo, SfuError
from sfu.channel import Args, Channel, ChannelClosed, EventHandler, RequestHandler
from sfu.plain import LOCALHOST, UdpTapSource
from sfu.tap import MediaSource
from signaling.models import Hearing, HearingKind, HearingState, Participant
from signaling.sidecars import AlarmSink, Publisher, Sidecar
from signaling.supervisor import Child, ChildSpec
from signaling.tap_openers import WorkerTap
from signaling.workers import WorkerPool

log = logging.getLogger("cloudcourt.sidecars")

NICE = 10  # below the workers and the control plane (docs/OPERATIONS.md, "Priorities")
HEARTBEAT_EVERY = 0.25
LOAD_EVERY = 1.0
# A sidecar's loop waits on its disk and encoder threads at nice 10, so on a busy machine it is
# starved by design (forwarding wins) for seconds at a time: at 5 s, healthy recorders were
# killed under load. A wedged sidecar loses no live media, only time on its record.
HEARTBEAT_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0  # sidecar.* requests (a status folds a long manifest)
TAP_OPEN_TIMEOUT = 5.0
HEARING_GET_TIMEOUT = 10.0
CLOSE_GRACE = 10.0
# How long `cloudcourt serve` waits for a sidecar at start-up (in parallel with the workers).
START_WAIT = 15.0
MAX_FRAME = 4 << 20  # a status of a long hearing is large; still bounded

START = "sidecar.start"
CLOSE = "sidecar.close"
HEARING_CHANGED = "hearing.changed"
HEARING_ENDED = "hearing.ended"
PUBLICATION_ADDED = "publication.added"
PUBLICATION_REMOVED = "publication.removed"
MEDIA_INTERRUPTED = "media.interrupted"
ROOM_CHANGED = "room.changed"
TAP_OPEN = "tap.open"
TAP_CLOSE = "tap.close"
HEARING_GET = "hearing.get"
EV_READY = "ready"
EV_HEARTBEAT = "hb"
EV_LOAD = "load"
EV_ALARM = "alarm"

# The protocol notifies, in the order a child must take them.
PROTOCOL = (
    HEARING_CHANGED,
    PUBLICATION_ADDED,
    PUBLICATION_REMOVED,
    MEDIA_INTERRUPTED,
    ROOM_CHANGED,
    HEARING_ENDED,
)


class SidecarDown(ConnectionError):
    """The sidecar is restarting (or failed): its requests cannot be answered now."""


def sidecar_argv(name: str, data_dir: Path, *extra: str) -> list[str]:
    """`cloudcourt <name>` without relying on PATH (the `--channel-fd` is added at spawn)."""
    return [sys.executable, "-m", "signaling", name, "--data-dir", str(data_dir), *extra]


def unended(hearing: Hearing) -> bool:
    """The hearings the recorder's start looks at (it asks `hearing.get` about the others)."""
    return hearing.state != HearingState.ENDED


def hearing_from_json(data: Args) -> Hearing:
    return Hearing(
        id=str(data["id"]),
        case_number=str(data["case_number"]),
        title=str(data["title"]),
        court=str(data["court"]),
        case_type=str(data["case_type"]),
        public=bool(data["public"]),
        scheduled_at=str(data["scheduled_at"]),
        state=HearingState(data["state"]),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        started_at=data.get("started_at"),
        ended_at=data.get("ended_at"),
        kind=HearingKind(data.get("kind", HearingKind.HEARING.value)),
        dispute_id=data.get("dispute_id"),
    )


@dataclass(frozen=True)
class SidecarParticipant:
    """A participant as a sidecar sees it (captions, masks, manifests)."""

    id: str
    name: str
    role: str
    masked: bool

    @classmethod
    def from_json(cls, data: Args) -> SidecarParticipant:
        return cls(str(data["id"]), str(data["name"]), str(data["role"]), bool(data["masked"]))


def participant_json(participant: Publisher) -> Args:
    return {
        "id": participant.id,
        "name": participant.name,
        "role": str(participant.role),
        "masked": participant.masked,
    }


# -- control plane side ------------------------------------------------------------------------

# Every publication now in a room: (hearing id, its participant, the publication).
Present = Callable[[], Iterable[tuple[str, Participant, PublicationInfo]]]


class SpawnedSidecar:
    """One sidecar process and its channel (what `supervisor.Child` watches)."""

    def __init__(self, process: asyncio.subprocess.Process, channel: Channel) -> None:
        self.process = process
        self.channel = channel
        self.load: Args = {}
        self._ready: asyncio.Future[Args] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.ensure_future(channel.run())

    @classmethod
    async def spawn(
        cls, name: str, argv: Sequence[str], setup: Callable[[Channel], None]
    ) -> SpawnedSidecar:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                "--channel-fd",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                close_fds=True,  # later children must not inherit this channel
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # else the child's death would never read as EOF here
        channel = await Channel.from_socket(ours, name, max_frame=MAX_FRAME)
        setup(channel)  # before its first frame is read
        spawned = cls(process, channel)
        channel.on_event(EV_READY, spawned._on_ready)
        channel.on_event(EV_LOAD, spawned._on_load)
        try:
            await asyncio.wait_for(asyncio.shield(spawned._ready), REQUEST_TIMEOUT)
        except BaseException:
            if process.returncode is None:
                process.kill()
            await process.wait()
            raise
        return spawned

    def _on_ready(self, a: Args) -> None:
        if not self._ready.done():
            self._ready.set_result(a)

    def _on_load(self, a: Args) -> None:
        self.load = a


class SidecarProcess:
    """The control plane's proxy of one sidecar process; a `Sidecar` to `Sidecars`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        pool: WorkerPool,
        hearings: Callable[[], Awaitable[list[Hearing]]],
        hearing: Callable[[str], Awaitable[Hearing | None]],
        present: Present,
        alarm: AlarmSink,
        heartbeat_timeout: float = HEARTBEAT_TIMEOUT,
        starts_with: Callable[[Hearing], bool] = unended,
    ) -> None:
        self.name = name
        # Which hearings its `sidecar.start` carries: a court's store holds every hearing ever,
        # and the frame must stay small; each sidecar says what its start looks at.
        self._starts_with = starts_with
        self.argv = list(argv)
        self.pool = pool
        self._hearings = hearings
        self._hearing = hearing
        self._present = present
        self._alarm = alarm
        self._requests: dict[str, RequestHandler] = {}
        self._events: dict[str, EventHandler] = {}
        self._taps: dict[str, str] = {}  # tap id -> hearing id, opened for the current process
        self._up = False  # started and replayed: calls go through
        self._held: list[tuple[str, Args]] | None = None  # calls made during the replay
        self._bringing_up: asyncio.Task[None] | None = None
        self._is_up = asyncio.Event()
        self._starting: asyncio.Task[None] | None = None
        self.child: Child[SpawnedSidecar] = Child(
            ChildSpec(name, heartbeat_timeout=heartbeat_timeout),
            self._spawn,
            on_ready=self._ready,
            on_lost=self._lost,
        )

    # -- what a sidecar adds --------------------------------------------------------------------

    def on_request(self, method: str, handler: RequestHandler) -> None:
        """Serve the child's `method` requests (set before `start`)."""
        self._requests[method] = handler

    def on_event(self, event: str, handler: EventHandler) -> None:
        self._events[event] = handler

    async def request(self, method: str, args: Args, timeout: float = REQUEST_TIMEOUT) -> Any:  # noqa: ASYNC109 (per-method timeouts are the contract)
        """Ask the sidecar; SidecarDown while it restarts (or if it dies meanwhile)."""
        channel = self.child.channel
        if not self._up or channel is None:
            raise SidecarDown(f"the {self.name} is restarting")
        try:
            return await channel.request(method, args, timeout)
        except ChannelClosed:
            raise SidecarDown(f"the {self.name} is restarting") from None

    @property
    def up(self) -> bool:
        return self._up

    # -- life -----------------------------------------------------------------------------------

    async def launch(self, wait: float = START_WAIT) -> None:
        """Spawn it; returns once it is up (ready, and given the present), or after ``wait``
        seconds: a loaded machine may take longer to import its modules, and the server need
        not stay closed meanwhile — once up, it is told every hearing and publication."""
        self._starting = asyncio.get_running_loop().create_task(self._first_start())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._is_up.wait()), wait)
        if not self._up:
            log.warning("%s is not up after %.0f s: it catches up once it is", self.name, wait)

    async def _first_start(self) -> None:
        """`Child.start` until it succeeds (it supervises, and restarts, from then on)."""
        delay = 0.5
        while True:
            try:
                await self.child.start()
                return
            except Exception as exc:
                log.warning("%s did not start: %s; trying again in %.1f s", self.name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        async def shutdown(spawned: SpawnedSidecar) -> object:
            with contextlib.suppress(ChannelClosed, TimeoutError, SfuError):
                await spawned.channel.request(CLOSE, {}, CLOSE_GRACE + 5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(spawned.process.wait(), 5)
            return None

        self._set_up(False)
        if self._starting is not None:
            self._starting.cancel()
        await self.child.stop(shutdown)
        self._close_taps()

    async def _spawn(self) -> SpawnedSidecar:
        return await SpawnedSidecar.spawn(self.name, self.argv, self._setup)

    def _setup(self, channel: Channel) -> None:
        channel.on_request(TAP_OPEN, self._tap_open)
        channel.on_request(TAP_CLOSE, self._tap_close)
        channel.on_request(HEARING_GET, self._hearing_get)
        channel.on_event(EV_ALARM, self._on_alarm)
        for method, handler in self._requests.items():
            channel.on_request(method, handler)
        for event, on_event in self._events.items():
            channel.on_event(event, on_event)

    def _ready(self, child: Child[SpawnedSidecar]) -> None:
        self._held = []
        self._bringing_up = asyncio.get_running_loop().create_task(self._bring_up())

    async def _bring_up(self) -> None:
        """`sidecar.start` with the hearings and the present, in one go once the hearings are
        read; once it has started, what came meanwhile, in order. Only then is it up."""
        channel = self.child.channel
        assert channel is not None
        try:
            hearings = [h for h in await self._hearings() if self._starts_with(h)]
        except Exception:
            log.exception("%s: reading the hearings for its start failed", self.name)
            hearings = []
        started = asyncio.ensure_future(
            channel.request(START, {"hearings": [h.to_json() for h in hearings]}, REQUEST_TIMEOUT)
        )
        for hearing in hearings:
            if hearing.state != HearingState.ENDED:
                channel.notify(HEARING_CHANGED, {"hearing": hearing.to_json()})
        try:
            present = list(self._present())
        except Exception:
            log.exception("%s: reading the publications to replay failed", self.name)
            present = []
        for hearing_id, participant, publication in present:
            channel.notify(PUBLICATION_ADDED, _added(hearing_id, participant, publication))
        try:
            # Until its start is done its questions are refused (a status must not read a
            # recording the start is still recovering) and the calls made meanwhile wait.
            await started
        except ChannelClosed:
            return  # it died: the next start brings it up
        except Exception as exc:  # its start failed or took too long: it runs all the same
            log.warning("%s: its start did not finish: %s", self.name, exc)
        held, self._held = self._held or [], None
        for method, args in held:
            channel.notify(method, args)
        self._set_up(True)
        log.info(
            "%s started with %d hearing(s), %d publication(s) replayed",
            self.name,
            len(hearings),
            len(present),
        )

    def _set_up(self, up: bool) -> None:
        self._up = up
        if up:
            self._is_up.set()
        else:
            self._is_up.clear()

    def _lost(self, child: Child[SpawnedSidecar], reason: str) -> None:
        self._set_up(False)
        self._held = None
        if self._bringing_up is not None:
            self._bringing_up.cancel()
            self._bringing_up = None
        self._close_taps()

    def _close_taps(self) -> None:
        """The workers stop sending to a sidecar that is gone."""
        taps, self._taps = self._taps, {}
        for tap_id, hearing_id in taps.items():
            self.pool.close_tap(hearing_id, tap_id)

    # -- the child's requests -------------------------------------------------------------------

    async def _tap_open(self, a: Args) -> Args:
        hearing_id, publication_id, port = str(a["hearing"]), str(a["publication"]), a["port"]
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise SfuError(f"no such port {port!r}")
        reply: Args = await self.pool.open_tap(hearing_id, publication_id, LOCALHOST, port)
        self._taps[str(reply["tap"])] = hearing_id
        return reply

    def _tap_close(self, a: Args) -> None:
        tap_id = str(a["tap"])
        hearing_id = self._taps.pop(tap_id, None)
        if hearing_id is not None:
            self.pool.close_tap(hearing_id, tap_id)

    async def _hearing_get(self, a: Args) -> Args | None:
        found = await self._hearing(str(a["id"]))
        return None if found is None else found.to_json()

    def _on_alarm(self, a: Args) -> None:
        self._alarm(str(a["hearing"]), dict(a["alarm"]))

    # -- the Sidecar protocol -------------------------------------------------------------------

    def _notify(self, method: str, args: Args) -> None:
        if self._held is not None:
            self._held.append((method, args))
            return
        channel = self.child.channel
        if self._up and channel is not None:
            channel.notify(method, args)

    def hearing_changed(self, hearing: Hearing) -> None:
        self._notify(HEARING_CHANGED, {"hearing": hearing.to_json()})

    def publication_added(
        self, hearing_id: str, participant: Publisher, publication: PublicationInfo
    ) -> None:
        self._notify(PUBLICATION_ADDED, _added(hearing_id, participant, publication))

    def publication_removed(self, hearing_id: str, publication_id: str) -> None:
        self._notify(PUBLICATION_REMOVED, {"hearing": hearing_id, "publication": publication_id})

    def media_interrupted(self, hearing_id: str, at: float, reason: str) -> None:
        self._notify(MEDIA_INTERRUPTED, {"hearing": hearing_id, "at": at, "reason": reason})

    def room_changed(self, hearing_id: str, change: dict[str, Any]) -> None:
        self._notify(ROOM_CHANGED, {"hearing": hearing_id, "change": change})

    def hearing_ended(self, hearing: Hearing) -> None:
        self._notify(HEARING_ENDED, {"hearing": hearing.to_json()})
        for tap_id in [t for t, h in self._taps.items() if h == hearing.id]:
            del self._taps[tap_id]  # they end with the room

    # -- figures --------------------------------------------------------------------------------

    def stats(self) -> dict[str, int | float]:
        """For /metrics (`cloudcourt_sidecar_*{sidecar=name}`)."""
        load = self._load()
        return {
            "sidecar_up": 1 if self._up else 0,
            "sidecar_restarts": self.child.restarts,
            "sidecar_cpu_seconds": self.child.cpu_seconds(),
            "sidecar_rss_bytes": self.child.rss_bytes(),
            "sidecar_tap_lost_packets": int(load.get("tap_lost_packets", 0)),
            "sidecar_tap_dropped": int(load.get("tap_dropped", 0)),
        }

    def describe(self) -> dict[str, Any]:
        """For GET /api/admin/workers (`sidecars`)."""
        load = self._load()
        return {
            "name": self.name,
            "pid": self.child.pid,
            "state": self.child.state,
            "restarts": self.child.restarts,
            "last_exit": self.child.last_exit,
            "cpu_seconds": round(self.child.cpu_seconds(), 3),
            "rss_bytes": self.child.rss_bytes(),
            "taps": int(load.get("taps", 0)),
            "tap_lost_packets": int(load.get("tap_lost_packets", 0)),
            "tap_dropped": int(load.get("tap_dropped", 0)),
            **{
                k: v
                for k, v in load.items()
                if k not in ("taps", "tap_lost_packets", "tap_dropped")
            },
        }

    def _load(self) -> Args:
        spawned = self.child.current
        return spawned.load if spawned is not None and self.child.ready else {}


def _added(hearing_id: str, participant: Publisher, publication: PublicationInfo) -> Args:
    return {
        "hearing": hearing_id,
        "participant": participant_json(participant),
        "publication": publication.to_wire(),
    }


# -- child side --------------------------------------------------------------------------------


class HostedSidecar(Sidecar, Protocol):
    """A sidecar a child process runs: the protocol, plus what it does at each (re)start with
    the control plane's hearings (`Recorder.start`, `Livestream.recover`)."""

    async def start(self, hearings: list[Hearing]) -> None: ...


class SidecarHost:
    """What the child gives the sidecar it builds: a tap opener over the control plane and the
    worker's UDP, the control plane's hearing records, alarms, and room for its own requests."""

    def __init__(self, channel: Channel, name: str, data_dir: Path) -> None:
        self.channel = channel
        self.name = name
        self.data_dir = data_dir
        self.taps: set[WorkerTap] = set()
        self._retired = (0, 0)  # lost, dropped of closed taps, so the counters only grow
        self._more_load: list[Callable[[], Args]] = []

    async def open_tap(self, hearing_id: str, publication: PublicationInfo) -> MediaSource:
        source = await UdpTapSource.bind()
        try:
            reply = await self.channel.request(
                TAP_OPEN,
                {"hearing": hearing_id, "publication": publication.id, "port": source.port},
                TAP_OPEN_TIMEOUT,
            )
            source.describe(str(reply["sdp"]))
        except ChannelClosed:
            source.close()
            raise SfuError("the control plane is gone") from None
        except BaseException:
            source.close()
            raise
        tap_id = str(reply["tap"])

        def close_remote() -> None:
            self.taps.discard(tap)
            lost, dropped = self._retired
            self._retired = (lost + source.lost, dropped + source.dropped)
            self.channel.notify(TAP_CLOSE, {"hearing": hearing_id, "tap": tap_id})

        tap = WorkerTap(source, close_remote)
        self.taps.add(tap)
        return tap

    async def hearing(self, hearing_id: str) -> Hearing | None:
        """The control plane's record of a hearing (the recorder's `HearingLookup`)."""
        found = await self.channel.request(HEARING_GET, {"id": hearing_id}, HEARING_GET_TIMEOUT)
        return None if found is None else hearing_from_json(found)

    def alarm(self, hearing_id: str, alarm: Args) -> None:
        """An alarm (`sidecars.alarm_json`) to the hearing's moderators."""
        self.channel.emit(EV_ALARM, {"hearing": hearing_id, "alarm": alarm})

    def add_load(self, figures: Callable[[], Args]) -> None:
        """More figures for the `load` event (the sidecar's own, e.g. archive jobs)."""
        self._more_load.append(figures)

    def load(self) -> Args:
        lost, dropped = self._retired
        for tap in self.taps:
            lost += tap.source.lost
            dropped += tap.source.dropped
        found: Args = {"taps": len(self.taps), "tap_lost_packets": lost, "tap_dropped": dropped}
        for figures in self._more_load:
            found.update(figures())
        return found


Build = Callable[[SidecarHost, list[str]], HostedSidecar]


def child_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"cloudcourt {name}",
        description=f"The {name} sidecar, run and driven by `cloudcourt serve` over a channel.",
    )
    parser.add_argument("--channel-fd", type=int, required=True, help="the inherited socket")
    parser.add_argument("--data-dir", required=True, help="the server's data directory")
    parser.add_argument("--log-level", default="INFO")
    return parser


def run_child(name: str, argv: Sequence[str], build: Build) -> int:
    """`cloudcourt <name> --channel-fd 3 --data-dir D [its own options]`; the sidecar's own
    options (those `child_parser` does not know) go to ``build``."""
    # First thing: everything this process does, threads and ffmpeg children included, runs
    # below the workers and the control plane.
    with contextlib.suppress(OSError):
        os.nice(NICE)
    args, rest = child_parser(name).parse_known_args(list(argv))
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    # The control plane decides when it goes (its close request, or its channel's end).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return asyncio.run(_serve_child(name, args.channel_fd, Path(args.data_dir), rest, build))


async def _serve_child(
    name: str, channel_fd: int, data_dir: Path, rest: list[str], build: Build
) -> int:
    channel = await Channel.from_fd(channel_fd, name, max_frame=MAX_FRAME)
    host = SidecarHost(channel, name, data_dir)
    sidecar = build(host, rest)
    done = asyncio.Event()
    started = asyncio.Event()
    held: list[tuple[str, Args]] = []

    def take(method: str, a: Args) -> None:
        try:
            _call(sidecar, method, a)
        except Exception:
            log.exception("%s: %s failed", name, method)

    def protocol(method: str) -> RequestHandler:
        def handle(a: Args) -> None:
            if started.is_set():
                take(method, a)
            else:  # `sidecar.start` is still going on: taken in order once it is done
                held.append((method, a))

        return handle

    async def start(a: Args) -> Args:
        await sidecar.start([hearing_from_json(h) for h in a.get("hearings") or ()])
        for method, args in held:
            take(method, args)
        held.clear()
        started.set()
        return {}

    async def close(a: Args) -> Args:
        # Answered once everything is sealed: the control plane waits for this, not a guess.
        await close_sidecar()
        done.set()
        return {}

    closed: asyncio.Future[None] | None = None

    async def close_sidecar() -> None:
        nonlocal closed
        if closed is None:
            closed = asyncio.ensure_future(_close(name, sidecar))
        await asyncio.shield(closed)

    for method in PROTOCOL:
        channel.on_request(method, protocol(method))
    channel.on_request(START, start)
    channel.on_request(CLOSE, close)
    reader = asyncio.ensure_future(channel.run())
    beat = asyncio.ensure_future(_heartbeat(channel, host))
    channel.emit(EV_READY, {"pid": os.getpid()})
    closing = asyncio.ensure_future(done.wait())
    await asyncio.wait({reader, closing}, return_when=asyncio.FIRST_COMPLETED)
    why = "asked to close" if closing.done() else f"channel {channel.closed.result()}"
    log.info("%s (pid %d) stopping: %s", name, os.getpid(), why)
    closing.cancel()
    await close_sidecar()
    beat.cancel()
    await channel.close()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    return 0


async def _close(name: str, sidecar: Sidecar) -> None:
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await sidecar.close()
    except Exception:
        log.exception("%s: closing failed", name)


def _call(sidecar: Sidecar, method: str, a: Args) -> None:
    hearing_id = str(a["hearing"]) if isinstance(a.get("hearing"), str) else ""
    if method == HEARING_CHANGED:
        sidecar.hearing_changed(hearing_from_json(a["hearing"]))
    elif method == HEARING_ENDED:
        sidecar.hearing_ended(hearing_from_json(a["hearing"]))
    elif method == PUBLICATION_ADDED:
        sidecar.publication_added(
            hearing_id,
            SidecarParticipant.from_json(a["participant"]),
            PublicationInfo.from_wire(a["publication"]),
        )
    elif method == PUBLICATION_REMOVED:
        sidecar.publication_removed(hearing_id, str(a["publication"]))
    elif method == MEDIA_INTERRUPTED:
        sidecar.media_interrupted(hearing_id, float(a["at"]), str(a["reason"]))
    elif method == ROOM_CHANGED:
        sidecar.room_changed(hearing_id, dict(a["change"]))


async def _heartbeat(channel: Channel, host: SidecarHost) -> None:
    """`hb` every 250 ms with how late its own timer fired (the loop's lag); `load` every 1 s."""
    expected = time.monotonic() + HEARTBEAT_EVERY
    next_load = 0.0
    while True:
        await asyncio.sleep(max(0.0, expected - time.monotonic()))
        now = time.monotonic()
        lag_ms = max(0.0, (now - expected) * 1000)
        expected = now + HEARTBEAT_EVERY
        channel.emit(EV_HEARTBEAT, {"t": time.time(), "lag_ms": round(lag_ms, 1)}, droppable=True)
        if now >= next_load:
            next_load = now + LOAD_EVERY
            channel.emit(EV_LOAD, host.load(), droppable=True)


__all__ = [
    "HostedSidecar",
    "SidecarDown",
    "SidecarHost",
    "SidecarParticipant",
    "SidecarProcess",
    "run_child",
    "sidecar_argv",
]
