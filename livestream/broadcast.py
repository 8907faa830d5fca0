"""One hearing's public stream while it runs: taps in, composite thread, segments out.

The event-loop side reads every tap of the hearing (cheap: depacketize and hand over), keeps the
composite's list of people in step with who publishes, and passes finished segments to the
playlist. A masked participant's video tap is read only to notice when it ends: its packets are
dropped before any decoder sees them. So are all of someone's packets while they are out of the
main room (livestream/rooms.py): the public sees and hears the main room only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from livestream.clock import CourtClock
from livestream.composite import Composite, Person
from livestream.encoder import Encoder, EncoderSettings, Segment
from livestream.playlist import Playlist
from livestream.rooms import RECESS_TEXT, HearingRooms
from livestream.sources import AudioSource, VideoSource
from livestream.subjects import Speaker, StreamedHearing
from sfu import MuteChange, PublicationInfo
from sfu.depacketize import depacketizer as make_depacketizer
from sfu.reorder import ReorderBuffer
from sfu.rtp import Incoming
from sfu.tap import MediaSource, OpenTap

log = logging.getLogger("cloudcourt.livestream")

KEYFRAME_RETRY = 0.5  # seconds between keyframe requests while a picture is broken
SCREEN = "screen"  # the Publication.source of a shared screen


def screen_key(participant_id: str) -> str:
    """The composite's key for the screen ``participant_id`` shares."""
    return f"{participant_id}/{SCREEN}"


@dataclass
class _Feed:
    tap: MediaSource
    person: Person
    source: VideoSource | AudioSource


class Broadcast:
    def __init__(
        self,
        hearing: StreamedHearing,
        playlist: Playlist,
        settings: EncoderSettings,
        masked: set[str],
        rooms: HearingRooms,
        clock: CourtClock,
        open_tap: OpenTap,
    ) -> None:
        self.hearing_id = hearing.id
        self._open_tap = open_tap
        self.playlist = playlist
        # The sidecar's own record of who is masked in this hearing (shared, kept up to date by
        # it): a Speaker handed in with a publication may be a copy from before the mask.
        self._masked = masked
        self._rooms = rooms  # the sidecar's record of who is in which room (shared, likewise)
        self._loop = asyncio.get_running_loop()
        self._run, first = playlist.open_run()
        self.composite = Composite(
            (f"{hearing.court}  {hearing.case_number}", f"{hearing.title}  · 公开庭审直播"),
            settings,
            lambda: Encoder(playlist.work, first, settings, self._segment_done),
            clock,
        )
        self._feeds: dict[str, _Feed] = {}  # publication id -> feed
        self._opening: set[str] = set()  # publication ids whose tap is being opened
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.composite.start()

    def _segment_done(self, segment: Segment) -> None:
        # Called in the composite thread; the playlist belongs to the event loop.
        made = time.monotonic()
        try:
            self._loop.call_soon_threadsafe(self.playlist.add, segment, made, self._run)
        except RuntimeError:  # the loop is gone (shutdown): nobody will publish it
            pass

    # ---------------------------------------------------------------- people and taps
    def add(self, participant: Speaker, publication: PublicationInfo) -> None:
        if (
            publication.id in self._feeds
            or publication.id in self._opening
            or publication.kind not in ("audio", "video")
        ):
            return
        self._opening.add(publication.id)
        self._run_task(self._open(participant, publication))

    def _run_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, participant: Speaker, publication: PublicationInfo) -> None:
        try:
            tap = await self._open_tap(self.hearing_id, publication)
        except Exception as exc:  # it ended meanwhile, or its worker restarted
            log.info("hearing %s: cannot stream %s: %s", self.hearing_id, publication.id, exc)
            return
        finally:
            self._opening.discard(publication.id)
        if self._stopped:
            tap.close()
            return
        composite = self.composite
        masked = participant.masked or participant.id in self._masked
        # A shared screen is a picture of its own beside the sharer's camera (one picture per
        # person would flicker between the two).
        screen = publication.kind == "video" and publication.source == SCREEN
        key = screen_key(participant.id) if screen else participant.id
        with composite.lock:
            person = composite.people.get(key)
            if person is None:
                person = composite.people[key] = Person(
                    key,
                    participant.id,
                    participant.name,
                    str(participant.role),
                    masked,
                    screen=screen,
                    away=not self._rooms.in_main(participant.id),
                )
            elif masked:
                person.masked = True
        try:
            if publication.kind == "video":
                source: VideoSource | AudioSource = VideoSource(
                    tap.info.codec, lambda: self._request_keyframe(tap)
                )
            else:
                source = AudioSource(tap.info.codec)
        except ValueError:
            log.warning("hearing %s: cannot stream %s", self.hearing_id, tap.info.codec)
            tap.close()
            self._forget_if_empty(person)
            return
        if publication.kind == "audio":
            with composite.lock:
                person.audio = source  # type: ignore[assignment]
        feed = self._feeds[publication.id] = _Feed(tap, person, source)
        await self._read(publication.id, feed)

    def _request_keyframe(self, tap: MediaSource) -> None:
        # Called in the composite thread; the tap belongs to the event loop.
        self._loop.call_soon_threadsafe(tap.request_keyframe)

    def set_masked(self, participant_id: str, masked: bool) -> None:
        with self.composite.lock:
            for key in (participant_id, screen_key(participant_id)):
                person = self.composite.people.get(key)
                if person is not None:
                    person.masked = masked
                    if masked:
                        person.video = None
        encoder = self.composite.encoder
        if masked and encoder is not None:
            dropped = self.playlist.purge(encoder.current_index)
            log.info(
                "hearing %s: masked %s, %d unpublished segments deleted",
                self.hearing_id,
                participant_id,
                dropped,
            )

    def rooms_changed(self) -> None:
        """Someone moved, or a room was opened or closed: the main room only, or the recess card."""
        rooms = self._rooms
        with self.composite.lock:
            self.composite.card = RECESS_TEXT if rooms.recess else None
            for person in self.composite.people.values():
                person.away = not rooms.in_main(person.participant_id)
                if person.away:
                    person.video = None  # coming back, they show from a fresh keyframe

    async def _read(self, publication_id: str, feed: _Feed) -> None:
        tap, person, source = feed.tap, feed.person, feed.source
        reorder, depacketizer = ReorderBuffer(), make_depacketizer(tap.info.codec)
        video = isinstance(source, VideoSource)
        need_keyframe = video  # the tap asked for one when it opened
        asked = 0.0
        try:
            while (entry := await tap.get()) is not None:
                item = entry.item
                if isinstance(item, MuteChange):
                    if video:
                        source.muted = item.muted  # type: ignore[union-attr]
                    continue
                if not isinstance(item, Incoming):
                    continue
                if person.away or (video and person.masked):
                    need_keyframe = video  # back in view, start from a keyframe
                    continue
                for packet, arrival, lost in reorder.push(item, entry.arrival):
                    if lost:
                        depacketizer.lost()
                        need_keyframe = video
                    frame = depacketizer.push(packet, arrival)
                    if frame is None:
                        continue
                    if need_keyframe and not frame.keyframe:
                        # A decoder fed frames that refer to lost data shows garbage: wait.
                        if arrival - asked > KEYFRAME_RETRY:
                            asked = arrival
                            tap.request_keyframe()
                        continue
                    need_keyframe = False
                    if video and person.video is not source:
                        with self.composite.lock:
                            person.video = source  # type: ignore[assignment]
                    source.feed(frame)
        finally:
            tap.close()
            self._feeds.pop(publication_id, None)
            with self.composite.lock:
                if person.video is source:
                    person.video = None
                if person.audio is source:
                    person.audio = None
            self._forget_if_empty(person)

    def _forget_if_empty(self, person: Person) -> None:
        if any(f.person is person for f in self._feeds.values()):
            return
        with self.composite.lock:
            if self.composite.people.get(person.key) is person:
                del self.composite.people[person.key]

    # ---------------------------------------------------------------- stopping
    async def stop(self, *, cut: bool) -> int:
        """End the stream. ``cut`` (the judge's stop): every segment not yet public is deleted at
        once, including the one being encoded. Otherwise (the hearing ended) what waits goes out
        after the delay. Returns how many segments were deleted."""
        self._stopped = True
        deleted = self.playlist.cut() if cut else 0
        if not cut:
            self.playlist.close_run()
        for feed in list(self._feeds.values()):
            feed.tap.close()  # the readers see the end and clean up
        self.composite.stop()
        await asyncio.to_thread(self.composite.join)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return deleted
