"""The livestream sidecar: public streams, as the control plane drives them (signaling/sidecars.py).

It remembers every publication of every hearing (a stream can start after people publish), runs
a Broadcast per hearing the judge put on air, publishes segments as their broadcast delay runs
out, and turns a hearing's stream into its on-demand entry when the hearing ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from livestream.broadcast import Broadcast
from livestream.clock import CourtClock
from livestream.disk_state import DiskStates, StreamState
from livestream.encoder import EncoderSettings
from livestream.playlist import LOG, POSTER, VOD_PLAYLIST, Playlist
from livestream.rooms import HearingRooms
from livestream.subjects import ENDED, Speaker, StreamedHearing
from sfu import PublicationInfo, SfuError
from sfu.tap import MediaSource, OpenTap

log = logging.getLogger("cloudcourt.livestream")

TICK = 0.1  # seconds between checks for segments whose delay has run out
DEFAULT_BROADCAST_DELAY = 10.0


async def _no_media(hearing_id: str, publication: PublicationInfo) -> MediaSource:
    raise SfuError("this livestream was given no way to open taps")


class Livestream:
    """``alarm(hearing_id, code, message)``: tells the court the stream failed (the control plane
    turns it into the `alarm` event). ``open_tap`` opens the publications it streams.
    ``off_air(hearing_id)``: a stream went off air by itself (its composite failed), for a
    control plane that keeps its own record of what is on air."""

    def __init__(
        self,
        root: Path,
        delay: float,
        alarm: Callable[[str, str, str], None],
        settings: EncoderSettings | None = None,
        clock: CourtClock | None = None,
        open_tap: OpenTap = _no_media,
        off_air: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        self._off_air = off_air
        self.open_tap = open_tap
        self.clock = clock or CourtClock.named()
        self.delay = delay
        self.settings = settings or EncoderSettings()
        self._alarm = alarm
        # Per hearing, the publications that have not ended: (who, publication).
        self._publications: dict[str, dict[str, tuple[Speaker, PublicationInfo]]] = {}
        self._playlists: dict[str, Playlist] = {}
        self._broadcasts: dict[str, Broadcast] = {}
        self._finishing: dict[str, asyncio.Task[None]] = {}
        # Per hearing, who is masked: the mask route tells us at once, and start() adds what the
        # store holds. Consulted for every publication, whatever its Participant copy says.
        self._masked: dict[str, set[str]] = {}
        # Per hearing, who is in which room: the public sees the main room only.
        self._rooms: dict[str, HearingRooms] = {}
        # Hearings whose judge's stop is still waiting for the encoder: a start waits for it.
        self._stopping: dict[str, asyncio.Event] = {}
        # Ended in this process: a start that raced the end must not put them on air again.
        self._ended: set[str] = set()
        self._disk = DiskStates(root)
        self._ticker: asyncio.Task[None] | None = None

    def directory(self, hearing_id: str) -> Path:
        return self.root / hearing_id

    # ---------------------------------------------------------------- Sidecar protocol
    def hearing_changed(self, hearing: StreamedHearing) -> None:
        pass  # the stream is started and stopped by the judge, not by the session's state

    def publication_added(
        self, hearing_id: str, participant: Speaker, publication: PublicationInfo
    ) -> None:
        self._publications.setdefault(hearing_id, {})[publication.id] = (participant, publication)
        self._rooms_of(hearing_id).met(participant.id, str(participant.role))
        broadcast = self._broadcasts.get(hearing_id)
        if broadcast is not None:
            broadcast.add(participant, publication)

    def publication_removed(self, hearing_id: str, publication_id: str) -> None:
        # A feed reading it ends by itself (its tap does).
        self._publications.get(hearing_id, {}).pop(publication_id, None)

    def media_interrupted(self, hearing_id: str, at: float, reason: str) -> None:
        pass  # the feeds' taps end; the publications made again come as new ones

    def room_changed(self, hearing_id: str, change: dict[str, Any]) -> None:
        self._rooms_of(hearing_id).apply(change)
        broadcast = self._broadcasts.get(hearing_id)
        if broadcast is not None:
            broadcast.rooms_changed()

    def restore_rooms(
        self, hearing_id: str, members: dict[str, str], private: Sequence[str]
    ) -> None:
        """Where everyone is now, as the control plane says to a livestream that (re)started:
        the moves and rooms it was told of before are gone with the process that heard them."""
        self._rooms_of(hearing_id).restore(members, private)
        broadcast = self._broadcasts.get(hearing_id)
        if broadcast is not None:
            broadcast.rooms_changed()

    def hearing_ended(self, hearing: StreamedHearing) -> None:
        self._ended.add(hearing.id)
        self._publications.pop(hearing.id, None)
        self._masked.pop(hearing.id, None)
        self._rooms.pop(hearing.id, None)
        broadcast = self._broadcasts.pop(hearing.id, None)
        if broadcast is None and not self._has_public_segments(hearing.id):
            self._playlists.pop(hearing.id, None)
            return
        self._finishing[hearing.id] = asyncio.get_running_loop().create_task(
            self._finish(hearing.id, broadcast)
        )

    async def close(self) -> None:
        for hearing_id in list(self._broadcasts):
            await self.stop_stream(hearing_id)
        for hearing_id, task in list(self._finishing.items()):
            # An ended hearing's stream is closed now rather than after the delay: nobody can
            # cut it any more (a stop after the end is refused), and an unfinished one would
            # never become the on-demand entry.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._close_ended(hearing_id)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    def recover(self, hearings: Sequence[StreamedHearing]) -> None:
        """At start-up: a public hearing that ended while the server was down (or that it could
        not close before it died) becomes its on-demand entry from what was public."""
        for hearing in hearings:
            directory = self.directory(hearing.id)
            if (
                hearing.public
                and hearing.state == ENDED
                and (directory / LOG).is_file()
                and not (directory / VOD_PLAYLIST).is_file()
            ):
                self._close_ended(hearing.id)

    # ---------------------------------------------------------------- control
    def is_live(self, hearing_id: str) -> bool:
        return hearing_id in self._broadcasts

    async def start_stream(self, hearing: StreamedHearing, masked: set[str]) -> bool:
        """Put the hearing on air (the caller checked that it is public and not ended; ``masked``
        is who the store says is masked). False if the hearing ended meanwhile."""
        while (stopping := self._stopping.get(hearing.id)) is not None:
            await stopping.wait()  # a stop in progress: its last segment must not be ours
        if hearing.id in self._ended:
            return False
        hidden = self._masked.setdefault(hearing.id, set())
        hidden |= masked
        if hearing.id in self._broadcasts:
            return True
        playlist = self._playlist(hearing.id)
        broadcast = Broadcast(
            hearing,
            playlist,
            self.settings,
            hidden,
            self._rooms_of(hearing.id),
            self.clock,
            self.open_tap,
        )
        self._broadcasts[hearing.id] = broadcast
        broadcast.rooms_changed()  # a recess already under way shows from the first frame
        broadcast.start()
        for participant, publication in list(self._publications.get(hearing.id, {}).values()):
            broadcast.add(participant, publication)
        self._ensure_ticker()
        log.info("hearing %s: public stream started (delay %.1f s)", hearing.id, self.delay)
        return True

    async def stop_stream(self, hearing_id: str) -> int:
        """The judge's stop: at once, and nothing not yet public ever will be. Returns how many
        segments were deleted unpublished."""
        broadcast = self._broadcasts.pop(hearing_id, None)
        if broadcast is None:
            return 0
        done = self._stopping[hearing_id] = asyncio.Event()
        try:
            deleted = await broadcast.stop(cut=True)
        finally:
            del self._stopping[hearing_id]
            done.set()
        log.info(
            "hearing %s: public stream stopped, %d unpublished segments deleted",
            hearing_id,
            deleted,
        )
        return deleted

    def set_masked(self, hearing_id: str, participant_id: str, masked: bool) -> None:
        hidden = self._masked.setdefault(hearing_id, set())
        if masked:
            hidden.add(participant_id)
            # The public thumbnail may show them: gone now, the next one is drawn after the mask.
            (self.directory(hearing_id) / POSTER).unlink(missing_ok=True)
        else:
            hidden.discard(participant_id)
        broadcast = self._broadcasts.get(hearing_id)
        if broadcast is not None:
            broadcast.set_masked(participant_id, masked)

    def state(self, hearing_id: str) -> StreamState:
        """For the public catalog, on every request (livestream/disk_state.py)."""
        on_air = hearing_id in self._broadcasts or hearing_id in self._finishing
        return self._disk.state(hearing_id, on_air)

    # ---------------------------------------------------------------- internals
    def _rooms_of(self, hearing_id: str) -> HearingRooms:
        return self._rooms.setdefault(hearing_id, HearingRooms())

    def _playlist(self, hearing_id: str) -> Playlist:
        playlist = self._playlists.get(hearing_id)
        if playlist is None:
            playlist = self._playlists[hearing_id] = Playlist(
                self.directory(hearing_id), self.delay, self.settings
            )
        return playlist

    def _close_ended(self, hearing_id: str) -> None:
        try:
            playlist = self._playlist(hearing_id)
            playlist.publish_due(math.inf)
            playlist.finish()
            log.info("hearing %s: on-demand stream closed (%.1f s)", hearing_id, playlist.duration)
        except OSError:
            log.exception("hearing %s: closing the public stream failed", hearing_id)
        finally:
            self._playlists.pop(hearing_id, None)

    def _has_public_segments(self, hearing_id: str) -> bool:
        return self.directory(hearing_id).is_dir() and bool(self._playlist(hearing_id).entries)

    async def _finish(self, hearing_id: str, broadcast: Broadcast | None) -> None:
        try:
            if broadcast is not None:
                await broadcast.stop(cut=False)
            playlist = self._playlist(hearing_id)
            while playlist.waiting:  # the last segments wait out the delay like the others
                await asyncio.sleep(TICK)
                playlist.publish_due(time.monotonic())
            playlist.finish()
            self._playlists.pop(hearing_id, None)
            log.info("hearing %s: on-demand stream ready (%.1f s)", hearing_id, playlist.duration)
        except Exception:
            log.exception("hearing %s: closing the public stream failed", hearing_id)
            self._alarm(hearing_id, "vod_failed", "the on-demand stream could not be closed")
        finally:
            self._finishing.pop(hearing_id, None)

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while self._broadcasts or self._finishing:
            now = time.monotonic()
            for hearing_id, broadcast in list(self._broadcasts.items()):
                try:
                    broadcast.playlist.publish_due(now)
                except OSError:
                    log.exception("hearing %s: publishing a segment failed", hearing_id)
                if broadcast.composite.failed is not None:
                    self._broadcasts.pop(hearing_id, None)
                    if self._off_air is not None:
                        self._off_air(hearing_id)
                    await broadcast.stop(cut=False)
                    self._alarm(
                        hearing_id,
                        "stream_failed",
                        f"the public stream stopped: {broadcast.composite.failed}",
                    )
            await asyncio.sleep(TICK)
