"""The livestream compositor in a process of its own, driven by the control plane over a channel.

Run as ``cloudcourt livestream --channel-fd 3 --data-dir D`` (started and supervised by
``cloudcourt serve --sfu-workers N``; signaling/remote_livestream.py is the other end). It nices
itself to 10 first thing: the SFU workers' forwarding comes before the public picture. It reads
its taps as plain RTP over loopback UDP (`sfu.plain.UdpTapSource`), each opened by asking the
control plane (`tap.open`), which asks the hearing's worker. The catalog's state is never asked
of it: the control plane reads it from the stream's files (livestream/disk_state.py), so the
public keeps being served while this process restarts. When the channel ends (the control plane
died) it stops every stream, as a server shutdown does, and exits 0.

Channel surface (the method names below; args and results JSON):

- control plane → livestream: `sidecar.start {hearings}` (what `Livestream.recover` gets),
  `hearing.changed` / `hearing.ended {hearing}`, `publication.added {hearing, participant,
  publication}`, `publication.removed {hearing, publication}`, `media.interrupted {hearing, at,
  reason}`, `room.changed {hearing, change}`, `stream.start {hearing, masked} → {ok}`,
  `stream.stop {hearing} → {deleted}`, `stream.mask {hearing, participant, masked}`,
  `sidecar.close {} → {}`.
- livestream → control plane: `tap.open {hearing, publication, port} → {tap, sdp}`, `tap.close
  {hearing, tap}`; events `ready {pid}`, `hb {t}` (every 250 ms), `alarm {hearing, code,
  message}`.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livestream.clock import CourtClock
from livestream.sidecar import Livestream
from livestream.subjects import HearingRecord, SpeakerRecord
from sfu.api import PublicationInfo
from sfu.channel import Args, Channel
from sfu.plain import UdpTapSource
from sfu.tap import MediaSource, OpenTap, TapEntry, TapInfo

log = logging.getLogger("cloudcourt.livestream")

NAME = "livestream"
NICE = 10
HEARTBEAT = 0.25
TAP_OPEN_TIMEOUT = 5.0

# control plane → livestream
SIDECAR_START = "sidecar.start"
SIDECAR_CLOSE = "sidecar.close"
HEARING_CHANGED = "hearing.changed"
HEARING_ENDED = "hearing.ended"
PUBLICATION_ADDED = "publication.added"
PUBLICATION_REMOVED = "publication.removed"
MEDIA_INTERRUPTED = "media.interrupted"
ROOM_CHANGED = "room.changed"
STREAM_START = "stream.start"
STREAM_STOP = "stream.stop"
STREAM_MASK = "stream.mask"
# livestream → control plane
TAP_OPEN = "tap.open"
TAP_CLOSE = "tap.close"
EV_READY = "ready"
EV_HEARTBEAT = "hb"
EV_ALARM = "alarm"


class ChannelTap:
    """A tap read here over UDP; closing it also tells the control plane, which tells the
    worker to stop sending."""

    def __init__(self, source: UdpTapSource, close_remote: Callable[[], None]) -> None:
        self.source = source
        self.info: TapInfo = source.info
        self._close_remote: Callable[[], None] | None = close_remote

    async def get(self) -> TapEntry | None:
        return await self.source.get()

    def request_keyframe(self) -> None:
        self.source.request_keyframe()  # an RTCP PLI back to the worker

    def close(self) -> None:
        self.source.close()
        if self._close_remote is not None:
            close_remote, self._close_remote = self._close_remote, None
            close_remote()


def tap_opener(channel: Channel) -> OpenTap:
    """The livestream's `sfu.tap.OpenTap` in this process: bind a UDP port, have the control
    plane point the hearing's worker at it, read the SDP it answers."""

    async def open_tap(hearing_id: str, publication: PublicationInfo) -> MediaSource:
        source = await UdpTapSource.bind()
        try:
            reply = await channel.request(
                TAP_OPEN,
                {"hearing": hearing_id, "publication": publication.to_wire(), "port": source.port},
                TAP_OPEN_TIMEOUT,
            )
            source.describe(str(reply["sdp"]))
        except BaseException:
            source.close()
            raise
        tap = str(reply["tap"])
        return ChannelTap(
            source, lambda: channel.notify(TAP_CLOSE, {"hearing": hearing_id, "tap": tap})
        )

    return open_tap


class LivestreamServer:
    """Serves the channel's methods with one `Livestream`."""

    def __init__(self, channel: Channel, stream: Livestream) -> None:
        self.channel = channel
        self.stream = stream
        self.closed = asyncio.Event()
        handlers: dict[str, Callable[[Args], Any]] = {
            SIDECAR_START: self.sidecar_start,
            SIDECAR_CLOSE: self.sidecar_close,
            HEARING_CHANGED: lambda a: stream.hearing_changed(_hearing(a)),
            HEARING_ENDED: lambda a: stream.hearing_ended(_hearing(a)),
            PUBLICATION_ADDED: self.publication_added,
            PUBLICATION_REMOVED: lambda a: stream.publication_removed(
                str(a["hearing"]), str(a["publication"])
            ),
            MEDIA_INTERRUPTED: lambda a: stream.media_interrupted(
                str(a["hearing"]), float(a["at"]), str(a["reason"])
            ),
            ROOM_CHANGED: lambda a: stream.room_changed(str(a["hearing"]), dict(a["change"])),
            STREAM_START: self.stream_start,
            STREAM_STOP: self.stream_stop,
            STREAM_MASK: lambda a: stream.set_masked(
                str(a["hearing"]), str(a["participant"]), bool(a["masked"])
            ),
        }
        for method, handler in handlers.items():
            channel.on_request(method, handler)

    def sidecar_start(self, a: Args) -> Args:
        self.stream.recover([HearingRecord.from_json(h) for h in a.get("hearings") or ()])
        return {}

    async def sidecar_close(self, a: Args) -> Args:
        await self.stream.close()
        self.closed.set()
        return {}

    def publication_added(self, a: Args) -> None:
        self.stream.publication_added(
            str(a["hearing"]),
            SpeakerRecord.from_json(a["participant"]),
            PublicationInfo.from_wire(a["publication"]),
        )

    async def stream_start(self, a: Args) -> Args:
        masked = {str(p) for p in a.get("masked") or ()}
        return {"ok": await self.stream.start(_hearing(a), masked)}

    async def stream_stop(self, a: Args) -> Args:
        return {"deleted": await self.stream.stop(str(a["hearing"]))}


def _hearing(a: Args) -> HearingRecord:
    return HearingRecord.from_json(a["hearing"])


async def _heartbeat(channel: Channel) -> None:
    while True:
        channel.emit(EV_HEARTBEAT, {"t": time.time()}, droppable=True)
        await asyncio.sleep(HEARTBEAT)


async def serve(channel_fd: int, root: Path, delay: float, timezone: str) -> int:
    channel = await Channel.from_fd(channel_fd, NAME, max_frame=4 << 20)

    def alarm(hearing_id: str, code: str, message: str) -> None:
        channel.emit(EV_ALARM, {"hearing": hearing_id, "code": code, "message": message})

    stream = Livestream(
        root, delay, alarm, clock=CourtClock.named(timezone), open_tap=tap_opener(channel)
    )
    server = LivestreamServer(channel, stream)
    reader = asyncio.ensure_future(channel.run())
    beat = asyncio.ensure_future(_heartbeat(channel))
    channel.emit(EV_READY, {"pid": os.getpid()})
    closed = asyncio.ensure_future(server.closed.wait())
    await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
    if not closed.done():
        # The control plane is gone: nobody can stop a stream any more, so none stays on air.
        log.info("livestream (pid %d): channel %s, stopping", os.getpid(), channel.closed.result())
        await stream.close()
    for task in (beat, closed, reader):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await channel.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cloudcourt livestream",
        description="The public stream compositor, driven by `cloudcourt serve` over a channel.",
    )
    parser.add_argument("--channel-fd", type=int, required=True, help="the inherited socket")
    parser.add_argument("--data-dir", type=Path, required=True, help="the server's data directory")
    parser.add_argument("--broadcast-delay", type=float, required=True, help="seconds")
    parser.add_argument("--timezone", required=True, help="the court's IANA time zone")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    os.nice(NICE)  # first: forwarding in the SFU workers comes before the public picture
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s livestream %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    # A Ctrl-C at the terminal reaches the whole process group: `serve` decides when we go.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return asyncio.run(
        serve(args.channel_fd, args.data_dir / "streams", args.broadcast_delay, args.timezone)
    )


if __name__ == "__main__":
    sys.exit(main())
