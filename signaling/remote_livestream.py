"""The livestream as stream_api sees it when it runs as `cloudcourt livestream` (its own process).

The control plane is the record of what is on air: a start, a stop or a mask is kept here and
passed on, and after every (re)start of the compositor it asks for the present
(`stream.present`: the streams on air with who is masked, and everyone's room), so a compositor
killed mid-stream goes back on air as it was and its live playlist continues after one
discontinuity (livestream/playlist.py). What the public asks for never crosses the channel: the
catalog's state is read from the stream's files (livestream/disk_state.py), and /live/ and /vod/
are files too, so they keep being served while the compositor restarts. A start or stop made
while it is down takes effect when it is back (a stop deletes nothing then: a restarted
compositor has already dropped what was waiting out the delay).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from livestream.disk_state import DiskStates, StreamState
from livestream.encoder import EncoderSettings
from livestream.playlist import LOG, POSTER, VOD_PLAYLIST
from livestream.process import (
    EV_OFF_AIR,
    STREAM_MASK,
    STREAM_PRESENT,
    STREAM_START,
    STREAM_STOP,
    STREAMS,
)
from sfu.channel import Args
from signaling.models import Hearing, HearingState
from signaling.sidecar_processes import Present, SidecarDown, SidecarProcess, sidecar_argv
from signaling.sidecars import AlarmSink
from signaling.workers import WorkerPool

log = logging.getLogger("cloudcourt.livestream")

# Per hearing in session: {participant id: room id} and the ids of its open private rooms.
Rooms = Callable[[], dict[str, tuple[dict[str, str], list[str]]]]


class RemoteLivestream(SidecarProcess):
    def __init__(
        self,
        data_dir: Path,
        *,
        delay: float,
        timezone: str,
        pool: WorkerPool,
        hearings: Callable[[], Awaitable[list[Hearing]]],
        hearing: Callable[[str], Awaitable[Hearing | None]],
        present: Present,
        rooms: Rooms,
        alarm: AlarmSink,
    ) -> None:
        super().__init__(
            "livestream",
            sidecar_argv(
                "livestream",
                data_dir,
                "--broadcast-delay",
                str(delay),
                "--timezone",
                timezone,
            ),
            pool=pool,
            hearings=hearings,
            hearing=hearing,
            present=present,
            alarm=alarm,
            starts_with=self._looked_at,
        )
        self.root = data_dir / STREAMS
        self.delay = delay
        self.settings = EncoderSettings()
        self._rooms = rooms
        self._disk = DiskStates(self.root)
        self._on_air: dict[str, Hearing] = {}
        self._masked: dict[str, set[str]] = {}
        # Ended while on air: its last segments still wait out the delay (live in the catalog
        # until the on-demand playlist is written).
        self._finishing: set[str] = set()
        self._ended: set[str] = set()  # a start that raced the end must stay off air
        self.on_request(STREAM_PRESENT, self._present_streams)
        self.on_event(EV_OFF_AIR, self._went_off_air)

    def directory(self, hearing_id: str) -> Path:
        return self.root / hearing_id

    def _looked_at(self, hearing: Hearing) -> bool:
        """What the compositor's start is told of: the public hearings not ended, and those
        ended whose stream was never closed (the server stopped or died inside the broadcast
        delay), which its start makes on-demand entries of."""
        if not hearing.public:
            return False
        if hearing.state != HearingState.ENDED:
            return True
        directory = self.root / hearing.id
        return (directory / LOG).is_file() and not (directory / VOD_PLAYLIST).is_file()

    # -- control --------------------------------------------------------------------------------

    def is_live(self, hearing_id: str) -> bool:
        return hearing_id in self._on_air

    async def start_stream(self, hearing: Hearing, masked: set[str]) -> bool:
        if hearing.id in self._ended:
            return False
        self._on_air[hearing.id] = hearing
        hidden = self._masked.setdefault(hearing.id, set())
        hidden |= masked
        try:
            reply = await self.request(
                STREAM_START, {"hearing": hearing.to_json(), "masked": sorted(hidden)}
            )
        except (SidecarDown, TimeoutError):
            log.warning("hearing %s: on air once the livestream is back", hearing.id)
            return True
        if not reply["ok"]:
            self._on_air.pop(hearing.id, None)
        return bool(reply["ok"])

    async def stop_stream(self, hearing_id: str) -> int:
        if self._on_air.pop(hearing_id, None) is None:
            return 0
        try:
            reply = await self.request(STREAM_STOP, {"hearing": hearing_id})
        except (SidecarDown, TimeoutError):
            return 0  # what waited out the delay went with the process that held it
        return int(reply["deleted"])

    def set_masked(self, hearing_id: str, participant_id: str, masked: bool) -> None:
        hidden = self._masked.setdefault(hearing_id, set())
        if masked:
            hidden.add(participant_id)
            # The public thumbnail may show them, and the compositor may be restarting.
            (self.directory(hearing_id) / POSTER).unlink(missing_ok=True)
        else:
            hidden.discard(participant_id)
        # A notify: taken in order with everything else, or part of the present if it is down.
        channel = self.child.channel
        if self.up and channel is not None:
            channel.notify(
                STREAM_MASK,
                {"hearing": hearing_id, "participant": participant_id, "masked": masked},
            )

    def state(self, hearing_id: str) -> StreamState:
        on_air = hearing_id in self._on_air or hearing_id in self._finishing
        found = self._disk.state(hearing_id, on_air)
        if found.status == "vod":
            self._finishing.discard(hearing_id)
        return found

    # -- the sidecar protocol -------------------------------------------------------------------

    def hearing_ended(self, hearing: Hearing) -> None:
        super().hearing_ended(hearing)
        self._ended.add(hearing.id)
        self._masked.pop(hearing.id, None)
        if self._on_air.pop(hearing.id, None) is not None:
            self._finishing.add(hearing.id)

    # -- the compositor's questions -------------------------------------------------------------

    def _present_streams(self, a: Args) -> Args:
        rooms = self._rooms()
        return {
            "streams": [
                {"hearing": hearing.to_json(), "masked": sorted(self._masked.get(hid, ()))}
                for hid, hearing in self._on_air.items()
            ],
            "rooms": {
                hid: {"members": members, "private": private}
                for hid, (members, private) in rooms.items()
            },
        }

    def _went_off_air(self, a: Args) -> None:
        self._on_air.pop(str(a["hearing"]), None)
