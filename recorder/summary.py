"""What a manifest says, folded into one picture: tracks and their segments, events, state.

The manifest is the only record of a recording; the API, `cloudcourt verify` and the composite
archive all read it through this fold, so they cannot disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recorder.manifest import GENESIS

EVENTS = ("start", "pause", "resume", "restart", "interrupted", "stop")


def summarize(entries: list[dict[str, Any]]) -> dict[str, Any]:
    tracks: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    state = "none"
    archive = None
    paused_at: int | None = None
    pauses: list[tuple[int, int]] = []  # [start, end) ms on the timeline while paused
    epoch = entries[0]["epoch"] if entries and entries[0]["type"] == "start" else 0.0
    end_ms = 0
    stopped_at: int | None = None  # the recording's end, when a stop entry names it
    for entry in entries:
        kind = entry["type"]
        if kind == "track":
            tracks[entry["track"]] = {
                "track": entry["track"],
                "kind": entry["kind"],
                "codec": entry["codec"],
                "participant": entry["participant"],
                "segments": [],
                "gaps": [],
            }
        elif kind == "segment":
            track = tracks.get(entry["track"])
            if track is not None:
                track["segments"].append(entry)
            end_ms = max(end_ms, entry["end_ms"])
        elif kind == "gap":  # media of one track lost (the disk refused it)
            track = tracks.get(entry["track"])
            if track is not None:
                track["gaps"].append(
                    {k: entry[k] for k in ("from_ms", "to_ms", "seconds", "reason", "at")}
                )
        elif kind == "archive":
            archive = entry
        elif kind in EVENTS:
            at_ms = at_ms_of(entry, epoch)
            end_ms = max(end_ms, at_ms)
            events.append(
                {k: v for k, v in entry.items() if k not in ("n", "prev", "hash", "epoch")}
                | {"at_ms": at_ms}
            )
            if kind == "pause":
                state, paused_at = "paused", at_ms
            elif kind in ("start", "resume"):
                state = "recording"
                if paused_at is not None:
                    pauses.append((paused_at, at_ms))
                    paused_at = None
            elif kind == "restart":
                state = "paused" if paused_at is not None else "recording"
            elif kind == "interrupted":
                state = "interrupted"
            elif kind == "stop":
                state = "stopped"
                # Closed after a restart: the hearing ended at `end_ms`, before this was written.
                stopped_at = entry.get("end_ms")
                if paused_at is not None:
                    pauses.append((paused_at, stopped_at if stopped_at is not None else at_ms))
    for track in tracks.values():
        segments = track["segments"]
        track["bytes"] = sum(s["bytes"] for s in segments)
        track["duration_ms"] = sum(s["end_ms"] - s["start_ms"] for s in segments)
        track["start_ms"] = segments[0]["start_ms"] if segments else None
        track["end_ms"] = segments[-1]["end_ms"] if segments else None
    return {
        "state": state,
        "epoch": epoch,
        "duration_ms": end_ms if stopped_at is None else stopped_at,
        "tracks": tracks,
        "events": events,
        "pauses": pauses,
        "archive": archive,
        "chain_head": entries[-1]["hash"] if entries else GENESIS,
        "entries": len(entries),
    }


def at_ms_of(entry: dict[str, Any], epoch: float) -> int:
    """When an entry was written, in ms on the recording's timeline."""
    # `at` has millisecond precision and `epoch` more: the start entry may round to -1.
    return max(0, round((datetime.fromisoformat(entry["at"]).timestamp() - epoch) * 1000))
