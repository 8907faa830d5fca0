"""`cloudcourt verify <hearing-id>`: is the recording on disk the one the manifest committed to?

Checks the manifest's hash chain line by line, then every sealed file the manifest lists (each
segment, and the archive if built) against its SHA-256. Stops at the first problem and names it.

A recording whose manifest was found damaged goes on in a new chain (`recorder/manifest.py`):
then each damaged chain is reported — why, how much of it still verifies, whether it changed
since — and the current chain is verified in full; the verdict is not OK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from recorder.manifest import ChainError, chains, check_chain, first_entry, read_entries
from recorder.segments import sha256_file
from recorder.service import RECORDINGS
from recorder.summary import summarize


@dataclass
class Verdict:
    ok: bool
    lines: list[str] = field(default_factory=list)
    bad: str | None = None  # the first bad or missing file (as the manifest names it)


def verify(data_dir: Path, hearing_id: str) -> Verdict:
    directory = data_dir / RECORDINGS / hearing_id
    names = chains(directory)
    if not names:
        return Verdict(False, [f"no recording of hearing {hearing_id} in {directory}"])
    if len(names) == 1:
        return _chain(directory, names[0], f"recording of hearing {hearing_id}")
    lines = [f"recording of hearing {hearing_id}: DAMAGED (its manifest was found damaged)"]
    for name, following in pairwise(names):
        lines += _damaged(directory, name, following)
    current = _chain(directory, names[-1], names[-1])
    return Verdict(False, lines + current.lines, bad=current.bad or names[0])


def _damaged(directory: Path, name: str, following: str) -> list[str]:
    """What is left of a chain the recorder found damaged, as the chain after it describes it."""
    check = check_chain(directory / name)
    described: dict[str, Any] = (first_entry(directory / following) or {}).get(
        "previous_chain"
    ) or {}
    if described.get("file") != name:
        return [f"{name}: damaged: {check.error}; and {following} does not name it"]
    lines = [
        f"{name}: damaged: {described['error']} (found so when recording went on in "
        f"{following}); its first {len(check.entries)} entries verify, up to head {check.head}"
    ]
    if (check.bytes, check.sha256) != (described["bytes"], described["sha256"]):
        lines.append(
            f"{name} changed after it was found damaged: {check.bytes} bytes, SHA-256 "
            f"{check.sha256}; then {described['bytes']} bytes, SHA-256 {described['sha256']}"
        )
    if check.head != described["last_verified_hash"]:
        lines.append(
            f"{name}: {following} says it verified up to {described['last_verified_hash']}"
        )
    bad = _files(directory, check.entries)
    lines.append(bad[0] if bad else f"{name}: the files its verified entries list are intact")
    return lines


def _files(directory: Path, entries: list[dict[str, Any]]) -> list[str]:
    """The first missing or altered file the entries list, with its name (empty if none)."""
    for entry in entries:
        if entry["type"] not in ("segment", "archive"):
            continue
        name = entry["file"]
        path = directory / name
        if not path.is_file():
            return [f"{entry['type']} {name} (manifest line {entry['n'] + 1}) is missing", name]
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            return [
                f"{entry['type']} {name} (manifest line {entry['n'] + 1}) was altered: "
                f"SHA-256 {digest}, the manifest says {entry['sha256']}",
                name,
            ]
    return []


def _chain(directory: Path, name: str, title: str) -> Verdict:
    manifest = directory / name
    entries = []
    try:
        for _, entry in read_entries(manifest):
            entries.append(entry)
    except ChainError as exc:
        return Verdict(False, [f"{manifest}: {exc}"], bad=name)
    if not entries:
        return Verdict(False, [f"{manifest} is empty"], bad=name)
    bad = _files(directory, entries)
    if bad:
        return Verdict(False, bad[:1], bad=bad[1])
    files = sum(1 for e in entries if e["type"] in ("segment", "archive"))
    summary = summarize(entries)
    segments = sum(len(t["segments"]) for t in summary["tracks"].values())
    lines = [
        f"{title}: OK",
        f"manifest: {len(entries)} entries, hash chain intact, head {summary['chain_head']}",
        f"files: {files} checked ({segments} segments in {len(summary['tracks'])} tracks"
        + (", archive" if summary["archive"] else "")
        + ")",
        f"state: {summary['state']}, {summary['duration_ms'] / 1000:.1f} s",
    ]
    for event in summary["events"]:
        line = f"  {event['at']} {event['type']} by {event.get('actor', 'system')}"
        if event.get("reason"):
            line += f": {event['reason']}"
        if event["type"] == "restart":
            line += (
                f" (gap {event['gap']['seconds']} s, "
                f"{event['recovered_segments']} segment(s) recovered)"
            )
        lines.append(line)
    for track in summary["tracks"].values():
        for gap in track["gaps"]:
            lines.append(
                f"  {gap['at']} gap in {track['track']}: {gap['seconds']} s lost from "
                f"{gap['from_ms'] / 1000:.1f} s ({gap['reason']})"
            )
    return Verdict(True, lines)
