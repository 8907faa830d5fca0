"""What a manifest says, folded into one picture: tracks and their segments, events, state.

The manifest is the only record of a recording; the API, `cloudcourt verify` and the composite
archive all read it through this fold, so they cannot disagree. `Tally` is the part of the fold
that costs nothing per entry (state, counters, chain head): a live recording keeps one up to date
as it appends, so that the console's frequent poll never walks the manifest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recorder.manifest import GENESIS

DEFAULT_SOURCE = {"audio": "microphone", "video": "camera"}
# `room`: a room opened or closed, or someone moved between rooms (listed, changes no state).
EVENTS = ("start", "pause", "resume", "restart", "interrupted", "stop", "room")


class Tally:
    """State, timeline end, counters and chain head of a manifest, entry by entry."""

    def __init__(self) -> None:
        self.state = "none"
        self.epoch = 0.0
        self.entries = 0
        self.chain_head = GENESIS
        self.tracks = 0
        self.segments = 0
        self.bytes = 0
        self.end_ms = 0
        self.stopped_at: int | None = None  # the recording's end, when a stop entry names it
        self.started_at: str | None = None
        self.pause: dict[str, Any] | None = None  # the pause entry while paused
        self.pauses: list[tuple[int, int]] = []  # [start, end) ms on the timeline while paused
        self.archive: dict[str, Any] | None = None

    @property
    def duration_ms(self) -> int:
        return self.end_ms if self.stopped_at is None else self.stopped_at

    def add(self, entry: dict[str, Any]) -> int | None:
        """Count one entry; its time on the timeline if it is an event (else None)."""
        self.entries += 1
        self.chain_head = entry["hash"]
        kind = entry["type"]
        if kind == "track":
            self.tracks += 1
        elif kind == "segment":
            self.segments += 1
            self.bytes += entry["bytes"]
            self.end_ms = max(self.end_ms, entry["end_ms"])
        elif kind == "archive":
            self.archive = entry
        elif kind in EVENTS:
            if kind == "start" and self.entries == 1:
                self.epoch, self.started_at = entry["epoch"], entry["at"]
            at_ms = at_ms_of(entry, self.epoch)
            self.end_ms = max(self.end_ms, at_ms)
            paused_at = at_ms_of(self.pause, self.epoch) if self.pause is not None else None
            if kind == "pause":
                self.state, self.pause = "paused", entry
            elif kind in ("start", "resume"):
                self.state = "recording"
                if paused_at is not None:
                    self.pauses.append((paused_at, at_ms))
                    self.pause = None
            elif kind == "restart":
                self.state = "paused" if self.pause is not None else "recording"
            elif kind == "interrupted":
                self.state = "interrupted"
            elif kind == "stop":
                self.state = "stopped"
                # Closed after a restart: the hearing ended at `end_ms`, before this was written.
                self.stopped_at = entry.get("end_ms")
                if paused_at is not None:
                    end = self.stopped_at if self.stopped_at is not None else at_ms
                    self.pauses.append((paused_at, end))
                    self.pause = None
            return at_ms
        return None


def summarize(entries: list[dict[str, Any]]) -> dict[str, Any]:
    tally = Tally()
    tracks: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    for entry in entries:
        at_ms = tally.add(entry)
        kind = entry["type"]
        if kind == "track":
            tracks[entry["track"]] = {
                "track": entry["track"],
                "kind": entry["kind"],
                "codec": entry["codec"],
                # Recordings made before screens were labelled hold cameras and microphones.
                "source": entry.get("source", DEFAULT_SOURCE[entry["kind"]]),
                "participant": entry["participant"],
                "segments": [],
                "gaps": [],
            }
        elif kind == "segment":
            track = tracks.get(entry["track"])
            if track is not None:
                track["segments"].append(entry)
        elif kind == "gap":  # media of one track lost (the disk refused it)
            track = tracks.get(entry["track"])
            if track is not None:
                track["gaps"].append(
                    {k: entry[k] for k in ("from_ms", "to_ms", "seconds", "reason", "at")}
                )
        elif at_ms is not None:
            events.append(
                {k: v for k, v in entry.items() if k not in ("n", "prev", "hash", "epoch")}
                | {"at_ms": at_ms}
            )
    for track in tracks.values():
        segments = track["segments"]
        track["bytes"] = sum(s["bytes"] for s in segments)
        track["duration_ms"] = sum(s["end_ms"] - s["start_ms"] for s in segments)
        track["start_ms"] = segments[0]["start_ms"] if segments else None
        track["end_ms"] = segments[-1]["end_ms"] if segments else None
    return {
        "state": tally.state,
        "epoch": tally.epoch,
        "duration_ms": tally.duration_ms,
        "tracks": tracks,
        "events": events,
        "pauses": tally.pauses,
        "archive": tally.archive,
        "chain_head": tally.chain_head,
        "entries": tally.entries,
    }


def at_ms_of(entry: dict[str, Any], epoch: float) -> int:
    """When an entry was written, in ms on the recording's timeline."""
    # `at` has millisecond precision and `epoch` more: the start entry may round to -1.
    return max(0, round((datetime.fromisoformat(entry["at"]).timestamp() - epoch) * 1000))
