"""What the public may see of one hearing's stream: segments become public only after the
broadcast delay, and a judge's stop deletes every segment not yet public.

Layout of a hearing's stream directory (only its top level is ever served)::

    work/              segments and poster candidates waiting out the delay — never served
    seg000012.ts       public segments
    poster.jpg         the latest public poster candidate
    live.m3u8          the live playlist (a sliding window; ENDLIST once the hearing ended)
    vod.m3u8           the whole stream, written when the hearing ended (on demand)
    segments.log       one line per public segment, so a restarted server rebuilds vod.m3u8
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from livestream.encoder import Segment, poster_name, segment_name

log = logging.getLogger("cloudcourt.livestream")

LIVE_WINDOW = 15  # segments in the live playlist
LIVE_PLAYLIST = "live.m3u8"
VOD_PLAYLIST = "vod.m3u8"
POSTER = "poster.jpg"
LOG = "segments.log"


@dataclass(frozen=True)
class Entry:
    """A public segment as the playlists list it."""

    index: int
    duration: float
    discontinuity: bool  # the stream was stopped and started again before this segment


@dataclass
class _Waiting:
    segment: Segment
    due: float  # monotonic time it may become public


class Playlist:
    def __init__(self, directory: Path, delay: float) -> None:
        self.dir = directory
        self.work = directory / "work"
        self.delay = delay
        self.dir.mkdir(parents=True, exist_ok=True)
        # Left over from a crash or restart: nobody could cut them, so they are never published.
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir()
        self.entries: list[Entry] = _read_log(directory / LOG)
        self.waiting: deque[_Waiting] = deque()
        self.accepting = False
        self._new_run = False
        self._drop_upto = -1
        self.next_index = max((e.index for e in self.entries), default=-1) + 1

    @property
    def finished(self) -> bool:
        return (self.dir / VOD_PLAYLIST).is_file()

    @property
    def duration(self) -> float:
        return sum(e.duration for e in self.entries)

    def open_run(self) -> int:
        """The stream (re)starts: the index its first segment gets."""
        self.accepting = True
        self._new_run = True
        return self.next_index

    def add(self, segment: Segment, now: float) -> None:
        """A finished segment from the encoder: public after the delay unless stopped first."""
        self.next_index = max(self.next_index, segment.index + 1)
        if not self.accepting or segment.index <= self._drop_upto:
            self._delete(segment.index)
            return
        self.waiting.append(_Waiting(segment, now + self.delay))

    def publish_due(self, now: float) -> bool:
        """Make public what has waited out the delay; whether anything changed."""
        changed = False
        while self.waiting and self.waiting[0].due <= now:
            segment = self.waiting.popleft().segment
            os.replace(
                self.work / segment_name(segment.index), self.dir / segment_name(segment.index)
            )
            if segment.poster:
                os.replace(self.work / poster_name(segment.index), self.dir / POSTER)
            discontinuity = self._new_run and bool(self.entries)
            self._new_run = False
            entry = Entry(segment.index, segment.duration, discontinuity)
            self.entries.append(entry)
            with open(self.dir / LOG, "a") as f:
                f.write(f"{entry.index} {entry.duration:.3f} {int(entry.discontinuity)}\n")
            changed = True
        if changed:
            self._write(LIVE_PLAYLIST, self.entries[-LIVE_WINDOW:], ended=False)
        return changed

    def cut(self) -> int:
        """The judge stopped the stream: nothing not yet public ever will be. How many segments
        were deleted."""
        self.accepting = False
        count = len(self.waiting)
        while self.waiting:
            self._delete(self.waiting.popleft().segment.index)
        return count

    def purge(self, upto_index: int) -> int:
        """Someone was masked while live: delete what waits, up to and including the segment being
        encoded now, which may still hold their picture; the stream goes on."""
        self._drop_upto = max(self._drop_upto, upto_index)
        count = len(self.waiting)
        while self.waiting:
            self._delete(self.waiting.popleft().segment.index)
        return count

    def close_run(self) -> None:
        """The stream ends normally (the hearing ended): what is waiting still goes out on time."""
        self.accepting = False

    def finish(self) -> None:
        """The hearing ended and everything due is public: close the live playlist, write VOD."""
        if not self.entries:
            return
        self._write(LIVE_PLAYLIST, self.entries[-LIVE_WINDOW:], ended=True)
        self._write(VOD_PLAYLIST, self.entries, ended=True)

    def _delete(self, index: int) -> None:
        for name in (segment_name(index), poster_name(index)):
            (self.work / name).unlink(missing_ok=True)

    def _write(self, name: str, entries: list[Entry], *, ended: bool) -> None:
        first = len(self.entries) - len(entries)
        target = max(1, math.ceil(max(e.duration for e in entries)))
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{target}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            "#EXT-X-DISCONTINUITY-SEQUENCE:"
            f"{sum(e.discontinuity for e in self.entries[: first + 1])}",
        ]
        if name == VOD_PLAYLIST:
            lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
        for i, entry in enumerate(entries):
            if entry.discontinuity and i > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            lines += [f"#EXTINF:{entry.duration:.3f},", segment_name(entry.index)]
        if ended:
            lines.append("#EXT-X-ENDLIST")
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.dir / name)  # a player never reads half a playlist


def _read_log(path: Path) -> list[Entry]:
    entries = []
    try:
        text = path.read_text()
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            entries.append(Entry(int(parts[0]), float(parts[1]), parts[2] == "1"))
    return entries
