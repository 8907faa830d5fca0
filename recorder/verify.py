"""`cloudcourt verify <hearing-id>`: is the recording on disk the one the manifest committed to?

Checks the manifest's hash chain line by line, then every sealed file the manifest lists (each
segment, and the archive if built) against its SHA-256. Stops at the first problem and names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recorder.manifest import MANIFEST, ChainError, read_entries
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
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return Verdict(False, [f"no recording of hearing {hearing_id} in {directory}"])
    entries = []
    try:
        for _, entry in read_entries(manifest):
            entries.append(entry)
    except ChainError as exc:
        return Verdict(False, [f"{manifest}: {exc}"], bad=MANIFEST)
    if not entries:
        return Verdict(False, [f"{manifest} is empty"], bad=MANIFEST)
    files = 0
    for entry in entries:
        if entry["type"] not in ("segment", "archive"):
            continue
        name = entry["file"]
        path = directory / name
        if not path.is_file():
            return Verdict(
                False,
                [f"{entry['type']} {name} (manifest line {entry['n'] + 1}) is missing"],
                bad=name,
            )
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            return Verdict(
                False,
                [
                    f"{entry['type']} {name} (manifest line {entry['n'] + 1}) was altered: "
                    f"SHA-256 {digest}, the manifest says {entry['sha256']}"
                ],
                bad=name,
            )
        files += 1
    summary = summarize(entries)
    segments = sum(len(t["segments"]) for t in summary["tracks"].values())
    lines = [
        f"recording of hearing {hearing_id}: OK",
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
