"""Consume received aiortc tracks; keep what a person would notice: whose picture, whose voice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .media import analyze_audio, read_pattern

log = logging.getLogger("tests.clients")


@dataclass
class VideoStats:
    frames: int = 0  # frames whose pattern read back with this sender id
    counters: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, counter)
    last_time: float = 0.0
    sizes: set[tuple[int, int]] = field(default_factory=set)

    def distinct_counters(self, since: float = 0.0) -> int:
        return len({c for t, c in self.counters if t >= since})

    def advancing(self, since: float = 0.0) -> bool:
        cs = [c for t, c in self.counters if t >= since]
        return len(cs) >= 2 and cs[-1] != cs[0]

    def frames_since(self, since: float) -> int:
        return sum(1 for t, _ in self.counters if t >= since)


@dataclass
class AudioStats:
    times: list[float] = field(default_factory=list)  # frames carrying this sender's tone
    rms: list[float] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.times)

    @property
    def last_time(self) -> float:
        return self.times[-1] if self.times else 0.0

    def frames_since(self, since: float) -> int:
        return sum(1 for t in self.times if t >= since)


class MediaSink:
    """Reads every received track; records decoded video/audio per sender id (from content).

    ``owner_of(mid)`` (optional) tells which participant the signalling said a mid carries; frames
    whose content disagrees are counted in ``mismatches``.
    """

    def __init__(self, name: str = "sink"):
        self.name = name
        self.video: dict[int, VideoStats] = defaultdict(VideoStats)
        self.audio: dict[int, AudioStats] = defaultdict(AudioStats)
        self.video_frames_total = 0
        self.unreadable_video_frames = 0
        self.audio_frames_total = 0
        self.silent_audio_frames = 0
        self.last_any_media = 0.0
        self.mismatches: list[tuple[str, str, int]] = []  # (kind, mid, content sender)
        self.tracks: list[tuple[str | None, MediaStreamTrack]] = []
        self._tasks: set[asyncio.Task] = set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ consuming
    def add_track(
        self,
        track: MediaStreamTrack,
        mid: str | None = None,
        expected_sender: Callable[[], int | None] | None = None,
    ) -> None:
        self.tracks.append((mid, track))
        task = asyncio.ensure_future(self._consume(track, mid, expected_sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, track, mid, expected_sender) -> None:
        kind = track.kind
        while True:
            try:
                frame = await track.recv()
            except (MediaStreamError, asyncio.CancelledError):
                return
            except Exception:  # pragma: no cover - decoder trouble shows as missing frames
                log.exception("%s: receiving %s on mid %s failed", self.name, kind, mid)
                return
            now = time.monotonic()
            self.last_any_media = now
            if kind == "video":
                self.video_frames_total += 1
                reading = read_pattern(frame)
                if reading is None:
                    self.unreadable_video_frames += 1
                else:
                    st = self.video[reading.sender]
                    st.frames += 1
                    st.counters.append((now, reading.counter))
                    st.last_time = now
                    st.sizes.add((frame.width, frame.height))
                    self._check(kind, mid, reading.sender, expected_sender)
            else:
                self.audio_frames_total += 1
                tone = analyze_audio(frame)
                if tone.sender is None:
                    self.silent_audio_frames += 1
                else:
                    st = self.audio[tone.sender]
                    st.times.append(now)
                    st.rms.append(tone.rms)
                    self._check(kind, mid, tone.sender, expected_sender)
            self._changed.set()

    def _check(self, kind, mid, sender, expected_sender) -> None:
        if expected_sender is None:
            return
        exp = expected_sender()
        if exp is not None and exp != sender:
            self.mismatches.append((kind, str(mid), sender))

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(BaseException):
                await t

    # ------------------------------------------------------------------ waiting
    async def wait_for(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{self.name}: timed out after {timeout}s waiting for {what}; {self.summary()}"
                )
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.25))

    async def wait_video_from(
        self, sender: int, min_frames: int = 10, timeout: float = 20.0, since: float | None = None
    ) -> VideoStats:
        """Wait until ``min_frames`` frames with ``sender``'s pattern, with advancing counters."""
        t0 = time.monotonic() if since is None else since
        st = self.video[sender]
        await self.wait_for(
            lambda: st.frames_since(t0) >= min_frames and st.advancing(t0),
            timeout,
            f"{min_frames} video frames from sender {sender}",
        )
        return st

    async def wait_audio_from(
        self, sender: int, min_frames: int = 10, timeout: float = 20.0, since: float | None = None
    ) -> AudioStats:
        t0 = time.monotonic() if since is None else since
        st = self.audio[sender]
        await self.wait_for(
            lambda: st.frames_since(t0) >= min_frames,
            timeout,
            f"{min_frames} audio frames with the tone of sender {sender}",
        )
        return st

    def summary(self) -> str:
        v = {
            k: (s.frames, s.counters[-1][1] if s.counters else None) for k, s in self.video.items()
        }
        a = {k: s.frames for k, s in self.audio.items()}
        return (
            f"video by sender (frames, last counter)={v}"
            f" unreadable={self.unreadable_video_frames}"
            f" audio by sender={a} silent/unknown={self.silent_audio_frames}"
            f" tracks={[(m, t.kind) for m, t in self.tracks]} mismatches={self.mismatches[:5]}"
        )
