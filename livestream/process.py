"""`cloudcourt livestream`: the public stream compositor in a process of its own.

`cloudcourt serve --sfu-workers N` runs it through the control plane's sidecar framework
(signaling/sidecar_processes.py), which hands `build` a host: the channel, a tap opener that
reads the worker's plain RTP over UDP, alarms to the judge console. The framework serves the
sidecar protocol (publications, rooms, hearings, its start and close), nices the process to 10
and heartbeats; here the livestream's own part of the channel (signaling/remote_livestream.py is
the other end):

- control plane → livestream: `stream.start {hearing, masked} → {ok}`, `stream.stop {hearing}
  → {deleted}`, `stream.mask {hearing, participant, masked}`;
- livestream → control plane: `stream.present {} → {streams: [{hearing, masked}], rooms:
  {hearing id: {members: {participant id: room id}, private: [room id]}}}`, asked at each start
  (the control plane is the record of what is on air and of who is in which room, so a
  compositor killed mid-stream is put back on air as it was); event `stream.off {hearing}`, a
  stream that went off air by itself (its composite failed; the alarm says why).

The catalog's state is never asked of it: the control plane reads it from the stream's files
(livestream/disk_state.py), so the public keeps being served while this process restarts. When
the channel ends (the control plane died) every stream stops, as at a server shutdown.

This package knows nothing of the control plane: the host is typed by sfu.sidecar_host.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from livestream.clock import CourtClock
from livestream.sidecar import Livestream
from livestream.subjects import HearingRecord, Speaker, StreamedHearing
from sfu.api import PublicationInfo
from sfu.sidecar_host import SidecarHost as Host

log = logging.getLogger("cloudcourt.livestream")

SOURCE = "livestream"  # of its alarms
STREAMS = "streams"  # under the data directory
STREAM_START = "stream.start"
STREAM_STOP = "stream.stop"
STREAM_MASK = "stream.mask"
STREAM_PRESENT = "stream.present"
EV_OFF_AIR = "stream.off"
PRESENT_TIMEOUT = 10.0

Args = dict[str, Any]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cloudcourt livestream", add_help=False)
    p.add_argument("--broadcast-delay", type=float, required=True)
    p.add_argument("--timezone", required=True)
    return p


class HostedLivestream:
    """The livestream with its channel: the sidecar protocol passed on, its own requests served,
    and at every start the present asked for and put back on air."""

    def __init__(self, host: Host, delay: float, timezone: str) -> None:
        channel = self.channel = host.channel

        def alarm(hearing_id: str, code: str, message: str) -> None:
            host.alarm(
                hearing_id, {"source": SOURCE, "code": code, "message": message, "detail": {}}
            )

        self.stream = Livestream(
            host.data_dir / STREAMS,
            delay,
            alarm,
            clock=CourtClock.named(timezone),
            open_tap=host.open_tap,
            off_air=lambda hearing_id: channel.emit(EV_OFF_AIR, {"hearing": hearing_id}),
        )
        channel.on_request(STREAM_START, self._start_stream)
        channel.on_request(STREAM_STOP, self._stop_stream)
        channel.on_request(STREAM_MASK, self._mask)

    # -- the sidecar protocol -------------------------------------------------------------------

    async def start(self, hearings: Sequence[StreamedHearing]) -> None:
        """Never raises: until it returns, the framework holds every other call."""
        stream = self.stream
        stream.recover(hearings)
        try:
            present = await self.channel.request(STREAM_PRESENT, {}, PRESENT_TIMEOUT)
            rooms = {
                str(h): (dict(r["members"]), list(r["private"]))
                for h, r in present["rooms"].items()
            }
            streams = [
                (HearingRecord.from_json(s["hearing"]), {str(p) for p in s["masked"]})
                for s in present["streams"]
            ]
        except Exception:
            # Nothing goes back on air; a judge starts it again (and it knows only the rooms'
            # changes from now on).
            log.exception("livestream: the control plane's present could not be read")
            return
        for hearing_id, (members, private) in rooms.items():
            stream.restore_rooms(hearing_id, members, private)
        for hearing, masked in streams:
            await stream.start_stream(hearing, masked)

    def hearing_changed(self, hearing: StreamedHearing) -> None:
        self.stream.hearing_changed(hearing)

    def publication_added(
        self, hearing_id: str, participant: Speaker, publication: PublicationInfo
    ) -> None:
        self.stream.publication_added(hearing_id, participant, publication)

    def publication_removed(self, hearing_id: str, publication_id: str) -> None:
        self.stream.publication_removed(hearing_id, publication_id)

    def media_interrupted(self, hearing_id: str, at: float, reason: str) -> None:
        self.stream.media_interrupted(hearing_id, at, reason)

    def room_changed(self, hearing_id: str, change: dict[str, Any]) -> None:
        self.stream.room_changed(hearing_id, change)

    def hearing_ended(self, hearing: StreamedHearing) -> None:
        self.stream.hearing_ended(hearing)

    async def close(self) -> None:
        await self.stream.close()

    # -- the livestream's own requests ----------------------------------------------------------

    async def _start_stream(self, a: Args) -> Args:
        masked = {str(p) for p in a.get("masked") or ()}
        return {"ok": await self.stream.start_stream(HearingRecord.from_json(a["hearing"]), masked)}

    async def _stop_stream(self, a: Args) -> Args:
        return {"deleted": await self.stream.stop_stream(str(a["hearing"]))}

    def _mask(self, a: Args) -> None:
        self.stream.set_masked(str(a["hearing"]), str(a["participant"]), bool(a["masked"]))


def build(host: Host, argv: list[str]) -> HostedLivestream:
    args = parser().parse_args(argv)
    return HostedLivestream(host, args.broadcast_delay, args.timezone)
