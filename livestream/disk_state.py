"""A hearing's stream state for the catalog, read from its directory alone.

The catalog asks every public hearing's state on every request, and with the compositor in a
process of its own the control plane answers from the files the compositor leaves
(livestream/playlist.py), never over the channel: it keeps serving while the compositor
restarts. Cheap enough for every request: a stream on air costs one `stat` of its segments.log
and reads only the records appended since the last look; an on-demand entry is read once and
kept (it never changes again); anything else is one file check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from livestream.playlist import LOG, POSTER, VOD_PLAYLIST, read_log, records


@dataclass(frozen=True)
class StreamState:
    """What the catalog needs to know of a hearing's stream."""

    status: str | None  # "live" (public segments, still growing), "vod" (closed) or None
    duration: float  # seconds of public video
    poster: bool


OFF_AIR = StreamState(None, 0.0, False)


@dataclass
class _Tally:
    """What a growing segments.log held up to ``offset`` (the end of its last whole line)."""

    offset: int = 0
    segments: int = 0
    duration: float = 0.0


class DiskStates:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tallies: dict[str, _Tally] = {}
        self._vod: dict[str, StreamState] = {}

    def state(self, hearing_id: str, on_air: bool) -> StreamState:
        """``on_air``: the judge's stream runs (or, after the end, its last segments still wait
        out the delay)."""
        known = self._vod.get(hearing_id)
        if known is not None:
            return known
        directory = self.root / hearing_id
        # The compositor writes the on-demand playlist only once the hearing's stream is closed,
        # which may be before the control plane hears it is (a stream finishing its delay).
        closed = (directory / VOD_PLAYLIST).is_file()
        if not on_air or closed:
            self._tallies.pop(hearing_id, None)
            if not closed:
                return OFF_AIR
            # Closed for good: its duration and poster never change again.
            duration = sum(e.duration for e in read_log(directory / LOG))
            known = StreamState("vod", duration, (directory / POSTER).is_file())
            self._vod[hearing_id] = known
            return known
        tally = self._tally(hearing_id, directory / LOG)
        poster = (directory / POSTER).is_file()
        return StreamState("live" if tally.segments else None, tally.duration, poster)

    def _tally(self, hearing_id: str, log: Path) -> _Tally:
        tally = self._tallies.setdefault(hearing_id, _Tally())
        try:
            size = os.stat(log).st_size
        except FileNotFoundError:
            size = 0
        if size < tally.offset:  # rewritten (cut back to its last whole line by a restart)
            tally = self._tallies[hearing_id] = _Tally()
        if size == tally.offset:
            return tally
        with open(log, "rb") as f:
            f.seek(tally.offset)
            data = f.read(size - tally.offset)
        whole = data.rfind(b"\n") + 1  # a record still being written is read next time
        for entry in records(data[:whole]):
            tally.segments += 1
            tally.duration += entry.duration
        tally.offset += whole
        return tally
