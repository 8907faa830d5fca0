"""What the public may see of one hearing's stream: segments become public only after the
broadcast delay, and a judge's stop deletes every segment not yet public.

Layout of a hearing's stream directory (only its top level is ever served)::

    work/              segments and poster candidates waiting out the delay — never served
    seg000012.ts       public segments (seg000012-low.ts: the same second, low rendition)
    poster.jpg         the latest public poster candidate
    master.m3u8        the master playlist: one variant per rendition (high.m3u8, low.m3u8)
    live.m3u8          the live playlist (a sliding window; ENDLIST once the hearing ended)
    vod.m3u8           the whole stream, written when the hearing ended (on demand)
    live-low.m3u8      the same two for the low rendition
    vod-low.m3u8
    segments.log       one line per public segment, so a restarted server rebuilds vod.m3u8

A compositor may be killed (kill -9) at any instant and started again on the same directory, and
the public must never see a torn file. Segments are encoded into work/ and become public by a
rename once complete; playlists are written to a temporary name and renamed; a segments.log
record counts only once its line is whole (ends with its newline), and a torn last line is cut
off before anything is appended after it, so a record is never glued onto half of another.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from livestream.encoder import EncoderSettings, Rendition, Segment, poster_name, segment_name

log = logging.getLogger("cloudcourt.livestream")

LIVE_WINDOW = 15  # segments in the live playlist
LIVE_PLAYLIST = "live.m3u8"
VOD_PLAYLIST = "vod.m3u8"
MASTER_PLAYLIST = "master.m3u8"
# A rendition's peak rate, as the master playlist announces it, over its nominal video + audio:
# x264's rate control overshoots on busy pictures, and MPEG-TS adds its packet overhead.
PEAK_FACTOR = 1.3
POSTER = "poster.jpg"
LOG = "segments.log"
# One public segment: its index, its duration in seconds and whether a discontinuity precedes it.
_RECORD = re.compile(r"([0-9]+) ([0-9]+\.[0-9]+) ([01])", re.ASCII)


@dataclass(frozen=True)
class Entry:
    """A public segment as the playlists list it."""

    index: int
    duration: float
    discontinuity: bool  # the stream was stopped and started again, or purged, before this segment


@dataclass
class _Waiting:
    segment: Segment
    due: float  # monotonic time it may become public


def media_playlist(kind: str, rendition: Rendition) -> str:
    """The file of one rendition's live or on-demand playlist (kind: LIVE_PLAYLIST or VOD_…)."""
    return kind.replace(".m3u8", f"{rendition.suffix}.m3u8")


def master_playlist(settings: EncoderSettings) -> str:
    """One variant per rendition, best first; a player picks by its bandwidth."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in settings.renditions:
        average = r.video_bitrate + settings.audio_bitrate
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={int(average * PEAK_FACTOR)},"
            f"AVERAGE-BANDWIDTH={average},RESOLUTION={r.width}x{r.height},"
            f'FRAME-RATE={settings.fps:.3f},CODECS="{r.codecs}"',
            f"{r.name}.m3u8",
        ]
    return "\n".join(lines) + "\n"


class Playlist:
    def __init__(self, directory: Path, delay: float, settings: EncoderSettings) -> None:
        self.dir = directory
        self.work = directory / "work"
        self.delay = delay
        self.settings = settings
        self.dir.mkdir(parents=True, exist_ok=True)
        # Left over from a crash or restart: nobody could cut them, so they are never published.
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir()
        self.entries: list[Entry] = read_log(directory / LOG)
        cut_torn_line(directory / LOG)
        self.waiting: deque[_Waiting] = deque()
        self.accepting = False
        # The next public segment does not follow on from the last one (a new run, or a purge took
        # segments out between them): it is marked as a discontinuity, so that players already
        # watching jump the gap instead of waiting for pictures that never come.
        self._gap = False
        self._drop_upto = -1
        self.run = 0  # which start of the stream is on air; a stopped run's late segment is not
        self.next_index = max((e.index for e in self.entries), default=-1) + 1

    @property
    def finished(self) -> bool:
        return (self.dir / VOD_PLAYLIST).is_file()

    @property
    def duration(self) -> float:
        return sum(e.duration for e in self.entries)

    def open_run(self) -> tuple[int, int]:
        """The stream (re)starts: its run number and the index its first segment gets."""
        self.accepting = True
        self._gap = True
        self.run += 1
        _write_atomically(self.dir / MASTER_PLAYLIST, master_playlist(self.settings))
        return self.run, self.next_index

    def add(self, segment: Segment, now: float, run: int) -> None:
        """A finished segment of ``run``: public after the delay unless stopped first. The segment
        an encoder hands over after the judge's stop belongs to a stopped run: deleted, even if
        the stream was started again meanwhile."""
        self.next_index = max(self.next_index, segment.index + 1)
        if run != self.run or not self.accepting or segment.index <= self._drop_upto:
            self._delete(segment.index)
            return
        self.waiting.append(_Waiting(segment, now + self.delay))

    def publish_due(self, now: float) -> bool:
        """Make public what has waited out the delay; whether anything changed."""
        changed = False
        while self.waiting and self.waiting[0].due <= now:
            segment = self.waiting.popleft().segment
            for rendition in self.settings.renditions:
                name = segment_name(segment.index, rendition)
                os.replace(self.work / name, self.dir / name)
            if segment.poster:
                os.replace(self.work / poster_name(segment.index), self.dir / POSTER)
            discontinuity = self._gap and bool(self.entries)
            self._gap = False
            entry = Entry(segment.index, segment.duration, discontinuity)
            self.entries.append(entry)
            _append(
                self.dir / LOG, f"{entry.index} {entry.duration:.3f} {int(entry.discontinuity)}\n"
            )
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
        self._gap = True  # the segment being encoded, at least, never comes out
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
        names = [segment_name(index, r) for r in self.settings.renditions] + [poster_name(index)]
        for name in names:
            (self.work / name).unlink(missing_ok=True)

    def _write(self, kind: str, entries: list[Entry], *, ended: bool) -> None:
        """Every rendition's media playlist of ``kind`` (LIVE_PLAYLIST or VOD_PLAYLIST)."""
        for rendition in self.settings.renditions:
            self._write_media(kind, rendition, entries, ended=ended)

    def _write_media(
        self, kind: str, rendition: Rendition, entries: list[Entry], *, ended: bool
    ) -> None:
        first = len(self.entries) - len(entries)
        # RFC 8216: each EXTINF rounded to the nearest integer must not exceed the target. Not
        # rounded up: one 1.04 s segment would double it, and players' live positions and
        # playlist reloads scale with it.
        target = max(1, math.floor(max(e.duration for e in entries) + 0.5))
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{target}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            "#EXT-X-DISCONTINUITY-SEQUENCE:"
            f"{sum(e.discontinuity for e in self.entries[: first + 1])}",
        ]
        if kind == VOD_PLAYLIST:
            lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
        for i, entry in enumerate(entries):
            if entry.discontinuity and i > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            lines += [f"#EXTINF:{entry.duration:.3f},", segment_name(entry.index, rendition)]
        if ended:
            lines.append("#EXT-X-ENDLIST")
        _write_atomically(self.dir / media_playlist(kind, rendition), "\n".join(lines) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a player never reads half a playlist


def _append(path: Path, line: str) -> None:
    # One write(2) on an O_APPEND descriptor: the record goes on at the end in one piece (a
    # buffered file object may split it across writes).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _record(line: str) -> Entry | None:
    """A whole segments.log line as its entry; None for anything else."""
    match = _RECORD.fullmatch(line)
    if match is None:
        return None
    index, duration, discontinuity = match.groups()
    return Entry(int(index), float(duration), discontinuity == "1")


def read_log(path: Path) -> list[Entry]:
    """The public segments, in order."""
    try:
        return records(path.read_bytes())
    except FileNotFoundError:
        return []


def records(data: bytes) -> list[Entry]:
    """The entries of segments.log text. Only whole lines count: a last line without its newline
    is a record whose writer was killed (or is still writing, when another process reads), and
    a line that is not a record is ignored."""
    whole = data[: data.rfind(b"\n") + 1].decode("utf-8", "replace")
    return [entry for line in whole.splitlines() if (entry := _record(line)) is not None]


def cut_torn_line(path: Path) -> None:
    """Cut a torn last line off the log (its writer was killed mid-record), so that the next
    record starts a line of its own instead of completing the torn one."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            whole = data.rfind(b"\n") + 1
            if whole < len(data):
                f.truncate(whole)
    except FileNotFoundError:
        pass
