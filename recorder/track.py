"""Record one publication: read its source, rebuild frames, place them on the timeline, write
segments of about a second, hand each full segment to the recording to be sealed.

The source is anything shaped like an SFU `Tap` (`MediaSource`): today the in-process tap; a
reader of plain RTP/RTCP over UDP would produce the same entries (see docs/RECORDER.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Protocol

from recorder.segments import Segment, container_for
from recorder.timeline import MONO_TO_WALL, PublisherClock, TrackTimeline
from sfu.depacketize import START_CODE, Frame, H264Depacketizer, depacketizer
from sfu.reorder import ReorderBuffer
from sfu.rtp import Incoming
from sfu.tap import MediaSource, MuteChange, SenderReport, TapEntry

log = logging.getLogger("cloudcourt.recorder")

SEGMENT_MS = 1000  # a crash loses at most about this much of each track
IDLE_CHECK = 0.25  # how often a quiet track checks whether its open segment is due
KEYFRAME_EVERY = 10.0  # s: no segment is more than this far from a keyframe it decodes from
KEYFRAME_RETRY = 1.0  # s between requests while waiting for a keyframe
RETRY_AFTER_FAILURE = 5.0  # s before writing is tried again after the disk failed


class TrackOwner(Protocol):
    """What a track needs from its recording."""

    epoch: float  # wall seconds of the recording's time 0

    @property
    def paused(self) -> bool: ...

    def seal(self, track_id: str, segment: Segment, frame_ms: int) -> None: ...

    def track_failed(self, track_id: str, from_ms: int, exc: BaseException) -> None: ...


class TrackRecorder:
    def __init__(
        self,
        owner: TrackOwner,
        track_id: str,
        directory: Path,
        source: MediaSource,
        clock: PublisherClock,
    ) -> None:
        self.owner = owner
        self.track_id = track_id
        self.directory = directory
        self.source = source
        self.info = source.info
        self.video = self.info.kind == "video"
        self.container = container_for(self.info.codec)
        self.timeline = TrackTimeline(self.info.clock_rate, clock)
        self.reorder = ReorderBuffer()
        self.depacketizer = depacketizer(self.info.codec)
        self.segment: Segment | None = None
        self.index = 0
        self.size: tuple[int, int] | None = None
        self.need_keyframe = self.video
        self.last_keyframe = 0.0
        self.last_request = 0.0
        self.last_pts = -1
        self.frame_ms = 20
        self.failed_until = 0.0
        self.frames = 0

    async def run(self) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_CHECK):
                        entry = await self.source.get()
                except TimeoutError:
                    self._idle()
                    continue
                if entry is None:
                    break
                self._handle(entry)
        finally:
            for packet, arrival, lost in self.reorder.flush(float("inf")):
                self._packet(packet, arrival, lost)
            self._seal()
            self.source.close()

    def _handle(self, entry: TapEntry) -> None:
        item = entry.item
        if isinstance(item, Incoming):
            expected = self.info.payload_type
            if expected is not None and item.payload_type != expected:
                return  # e.g. a retransmission stream's packets; the media is the main stream
            for packet, arrival, lost in self.reorder.push(item, entry.arrival):
                self._packet(packet, arrival, lost)
        elif isinstance(item, SenderReport):
            self.timeline.sender_report(item.ntp, item.rtp_timestamp, entry.arrival)
        elif isinstance(item, MuteChange) and item.muted:
            self._seal()  # nothing comes while muted; the next frame starts a fresh segment
            self.need_keyframe = self.video

    def _packet(self, packet: Incoming, arrival: float, lost: bool) -> None:
        if lost:
            self.depacketizer.lost()
            self._ask_keyframe(time.monotonic())
        frame = self.depacketizer.push(packet, arrival)
        if frame is not None:
            self._frame(frame)

    def _ask_keyframe(self, now: float) -> None:
        if self.video and now - self.last_request >= KEYFRAME_RETRY:
            self.last_request = now
            self.source.request_keyframe()

    def _frame(self, frame: Frame) -> None:
        wall = self.timeline.wall(frame.timestamp, frame.arrival)  # always: keeps the RTP unwrap
        now = time.monotonic()
        if frame.size is not None:
            self.size = frame.size
        if self.owner.paused or now < self.failed_until:
            self._seal()
            self.need_keyframe = self.video
            return
        if self.need_keyframe:
            if not frame.keyframe or self.size is None:
                self._ask_keyframe(now)
                return
            self.need_keyframe = False
        pts = max(round((wall - self.owner.epoch) * 1000), self.last_pts + 1)
        if self.last_pts >= 0 and 0 < pts - self.last_pts <= 200:
            self.frame_ms = pts - self.last_pts
        segment = self.segment
        if segment is not None and segment.first_ms is not None:
            age = pts - segment.first_ms
            # Prefer cutting at a keyframe (the new segment then decodes on its own), but never
            # let a segment grow much past a second waiting for one.
            if age >= SEGMENT_MS or (frame.keyframe and self.video and age >= SEGMENT_MS // 2):
                self._seal()
            elif frame.size is not None and frame.size != segment.size:
                self._seal()  # a new resolution needs a new stream header
        try:
            if self.segment is None:
                frame = self._with_parameter_sets(frame)
                self.index += 1
                self.segment = Segment(
                    self.directory, self.index, self.container, self.size if self.video else None
                )
            self.segment.write(frame, pts)
        except Exception as exc:  # a full or unwritable disk: loud, and the hearing goes on
            self._write_failed(exc, pts)
            return
        self.last_pts = pts
        self.frames += 1
        if frame.keyframe:
            self.last_keyframe = now
        elif self.video and now - self.last_keyframe >= KEYFRAME_EVERY:
            self._ask_keyframe(now)

    def _with_parameter_sets(self, frame: Frame) -> Frame:
        """An H.264 segment must open with SPS/PPS (the muxer takes the stream header from its
        first frame); a segment cut between keyframes gets the current ones in front."""
        dep = self.depacketizer
        if frame.keyframe or not isinstance(dep, H264Depacketizer) or not (dep.sps and dep.pps):
            return frame
        data = START_CODE + dep.sps + START_CODE + dep.pps + frame.data
        return Frame(data, frame.timestamp, frame.arrival, False, frame.size)

    def _write_failed(self, exc: BaseException, pts: int) -> None:
        from_ms = pts
        if self.segment is not None:
            from_ms = min(pts, self.segment.first_ms if self.segment.first_ms is not None else pts)
            self.segment.discard()
            self.segment = None
        self.back_off()
        self.owner.track_failed(self.track_id, from_ms, exc)

    def back_off(self) -> None:
        """The disk failed under this track: drop media for a while, then start again cleanly at
        a keyframe (the recording logs the gap when a segment is sealed again)."""
        self.failed_until = time.monotonic() + RETRY_AFTER_FAILURE
        self.need_keyframe = self.video

    def _idle(self) -> None:
        now = time.monotonic()
        for packet, arrival, lost in self.reorder.flush(now):
            self._packet(packet, arrival, lost)
        segment = self.segment
        if segment is not None and segment.first_ms is not None:
            timeline_ms = (now + MONO_TO_WALL - self.owner.epoch) * 1000
            if timeline_ms - segment.first_ms >= SEGMENT_MS * 1.5:
                self._seal()  # the track went quiet: do not leave its last second unsealed
        if self.need_keyframe and not self.owner.paused:
            self._ask_keyframe(now)

    def _seal(self) -> None:
        segment, self.segment = self.segment, None
        if segment is None:
            return
        if segment.frames == 0:
            segment.discard()
            return
        self.owner.seal(self.track_id, segment, self.frame_ms)
