"""The recorder service driven directly, as the control plane drives it (sidecar calls), with
real files, a real manifest and real ffmpeg: a hearing ended while its recording begins, a
shutdown during an archive build, and what the console polls of a 3-hour recording."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from recorder import recording as recording_module
from recorder.manifest import GENESIS, MANIFEST, canonical, entry_hash, utc_now
from recorder.service import Recorder, RecordingError
from sfu import SfuError
from tests.e2e import eventually

pytestmark = pytest.mark.timeout(120)

BASE = "http://court.test"
ACTOR = {"actor": "p_judge", "actor_role": "judge"}


def hearing(hearing_id: str, state: str) -> SimpleNamespace:
    return SimpleNamespace(id=hearing_id, state=state, ended_at=None)


def new_recorder(data_dir: Path, hearings: dict[str, SimpleNamespace]) -> Recorder:
    alarms: list[tuple] = []

    async def lookup(hearing_id: str) -> Any:
        return hearings.get(hearing_id)

    async def no_media(hearing_id: str, publication: Any) -> Any:
        raise SfuError("these hearings publish nothing")

    recorder = Recorder(data_dir, lambda *alarm: alarms.append(alarm), lookup, open_tap=no_media)
    recorder.alarms = alarms  # type: ignore[attr-defined]
    return recorder


def manifest_types(data_dir: Path, hearing_id: str) -> list[str]:
    path = data_dir / "recordings" / hearing_id / MANIFEST
    if not path.exists():
        return []
    return [json.loads(line)["type"] for line in path.read_bytes().splitlines()]


async def test_an_end_while_the_recording_begins_stops_it_and_builds_the_archive(
    tmp_path, monkeypatch
):
    """The judge joins and the hearing is ended at once: the end comes while the recording's
    first manifest entry is still being written (a slow disk). It must still be stopped."""
    entered, release = asyncio.Event(), asyncio.Event()
    real_begin = recording_module.HearingRecording.begin

    async def slow_begin(self, *args):
        await real_begin(self, *args)
        entered.set()
        await release.wait()

    monkeypatch.setattr(recording_module.HearingRecording, "begin", slow_begin)
    recorder = new_recorder(tmp_path, {})
    await recorder.start()
    recorder.hearing_changed(hearing("h_race", "in_session"))
    await asyncio.wait_for(entered.wait(), 10)
    recorder.hearing_ended(hearing("h_race", "ended"))
    # The hearing is over: the court may no longer pause what is recorded of it.
    with pytest.raises(RecordingError) as refused:
        await recorder.set_paused("h_race", True, ACTOR, "after the end")
    assert refused.value.code == "conflict"
    await asyncio.sleep(0.3)  # the hearing lasted a moment: its archive is not empty
    release.set()

    async def archived() -> bool:
        assert not recorder.alarms, recorder.alarms
        return "archive" in manifest_types(tmp_path, "h_race")

    await eventually(archived, 60, "the recording is stopped and archived", interval=0.1)
    assert manifest_types(tmp_path, "h_race") == ["start", "stop", "archive"]
    state = await recorder.light("h_race", BASE)
    assert state["state"] == "stopped"
    with pytest.raises(RecordingError):
        await recorder.set_paused("h_race", True, ACTOR, "after the end")
    assert manifest_types(tmp_path, "h_race") == ["start", "stop", "archive"]
    # Nothing of the hearing is held any more (its disk thread is shut down with it).
    assert not recorder.recordings and not recorder.archives
    assert not recorder._publications and not recorder._locks and not recorder._ended
    await recorder.close()


async def test_a_recording_that_cannot_begin_alarms_and_its_alarm_stands_until_the_end(tmp_path):
    """Nothing tries to begin it again before the next start-up, so a judge who joins later
    must still hear of it; once the hearing ends it stands no more."""
    recorder = new_recorder(tmp_path, {})
    await recorder.start()
    (tmp_path / "recordings" / "h_blocked").write_bytes(b"")  # where its folder must go
    recorder.hearing_changed(hearing("h_blocked", "in_session"))

    async def alarmed() -> bool:
        return bool(recorder.alarms)

    await eventually(alarmed, 10, "the failed beginning alarms", interval=0.05)
    assert not recorder.recordings
    ((_, code, message, _),) = recorder.alarms
    standing = recorder.standing_alarms("h_blocked")
    assert [(a["source"], a["code"], a["message"]) for a in standing] == [
        ("recorder", code, message)
    ]
    assert recorder.standing_alarms("h_other") == []
    recorder.hearing_ended(hearing("h_blocked", "ended"))

    async def ended() -> bool:
        return not recorder.standing_alarms("h_blocked")

    await eventually(ended, 10, "the alarm stands no more once the hearing ended", interval=0.05)
    await recorder.close()


def ffmpeg_children(directory: Path) -> list[int]:
    """Ids of running processes whose command line names ``directory`` (the archive's ffmpeg)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if str(directory).encode() in cmdline and b"ffmpeg" in cmdline:
            if "State:\tZ" not in status:
                found.append(int(entry.name))
    return found


def write_manifest(directory: Path, entries: list[dict[str, Any]]) -> None:
    """A manifest as the recorder writes it (chained), in one go: fsyncing each of tens of
    thousands of entries would only slow the test."""
    directory.mkdir(parents=True, exist_ok=True)
    lines, prev = [], GENESIS
    for n, fields in enumerate(entries):
        entry = {"n": n, "at": fields.pop("at", utc_now()), **fields, "prev": prev}
        entry["hash"] = prev = entry_hash(entry)
        lines.append(canonical(entry) + b"\n")
    (directory / MANIFEST).write_bytes(b"".join(lines))


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds")


async def test_a_shutdown_stops_the_archive_build_and_ffmpeg_and_the_next_start_builds_it(
    tmp_path,
):
    """A stopped hour-long recording whose archive was never built: start-up builds it; a
    shutdown meanwhile must not wait for it (an hour of encoding) nor leave ffmpeg behind."""
    hour = 3600
    epoch = time.time() - hour
    directory = tmp_path / "recordings" / "h_long"
    write_manifest(
        directory,
        [
            {"type": "start", "hearing": "h_long", "epoch": epoch, "at": iso(epoch),
             "actor": "system"},
            {"type": "stop", "reason": "hearing ended", "end_ms": hour * 1000, "actor": "system"},
        ],
    )  # fmt: skip
    for attempt in (1, 2):
        recorder = new_recorder(tmp_path, {})
        await recorder.start()

        async def encoding() -> bool:
            return bool(ffmpeg_children(directory))

        await eventually(encoding, 30, f"start-up {attempt} builds the missing archive")
        pids = ffmpeg_children(directory)
        began = time.monotonic()
        await recorder.close()
        assert time.monotonic() - began < 10, "shutdown waited for the archive build"
        assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "ffmpeg left running"
        assert ffmpeg_children(directory) == []
        # Nothing half-built is left for anyone to mistake for the archive.
        assert sorted(p.name for p in directory.iterdir()) == [MANIFEST]
        assert manifest_types(tmp_path, "h_long") == ["start", "stop"]


async def test_the_console_poll_of_a_three_hour_recording_is_small_and_agrees_with_the_full_one(
    tmp_path,
):
    """3 h × 8 tracks (86,400 segments) of a hearing still in session, continued after a
    restart: the console's answer is a few hundred bytes, its figures are the full answer's,
    and it follows a pause at once."""
    hours, tracks = 3, 8
    epoch = time.time() - hours * 3600
    directory = tmp_path / "recordings" / "h_3h"
    entries: list[dict[str, Any]] = [
        {"type": "start", "hearing": "h_3h", "epoch": epoch, "at": iso(epoch), "actor": "system"}
    ]
    who = {"id": "p_judge", "name": "王法官", "role": "judge"}
    for t in range(1, tracks + 1):
        kind = "audio" if t % 2 else "video"
        entries.append(
            {"type": "track", "track": f"t{t:02d}-{kind}", "kind": kind, "codec": "audio/opus",
             "clock_rate": 48000, "source": "microphone", "publication": f"TR_{t}",
             "participant": who}
        )  # fmt: skip
    for second in range(hours * 3600):
        for t in range(1, tracks + 1):
            kind = "audio" if t % 2 else "video"
            entries.append(
                {"type": "segment", "track": f"t{t:02d}-{kind}", "file": f"t{t:02d}-{kind}/"
                 f"{second + 1:06d}.webm", "sha256": "0" * 64, "bytes": 1000,
                 "start_ms": second * 1000, "end_ms": second * 1000 + 1000, "frames": 50,
                 "keyframe_start": True, "at": iso(epoch + second + 1)}
            )  # fmt: skip
    write_manifest(directory, entries)
    recorder = new_recorder(tmp_path, {"h_3h": hearing("h_3h", "in_session")})
    await recorder.start()
    try:
        light = await recorder.light("h_3h", BASE)
        full = await recorder.status("h_3h", BASE)
        assert len(json.dumps(light)) < 1000
        assert light["state"] == full["state"] == "recording"
        assert light["tracks"] == len(full["originals"]) == tracks
        assert light["segments"] == sum(t["segments"] for t in full["originals"]) == 86_400
        assert light["bytes"] == sum(t["bytes"] for t in full["originals"])
        assert light["chain_head"] == full["chain_head"]
        assert light["manifest_entries"] == full["manifest_entries"]
        assert light["duration_seconds"] >= full["duration_seconds"] - 0.001
        assert light["paused"] is None
        await recorder.set_paused("h_3h", True, ACTOR, "休庭十分钟")
        light = await recorder.light("h_3h", BASE)
        assert light["state"] == "paused"
        assert light["paused"]["reason"] == "休庭十分钟"
        assert light["paused"]["actor_role"] == "judge"
        assert light["chain_head"] == (await recorder.status("h_3h", BASE))["chain_head"]
    finally:
        await recorder.close()
    # Shut down: the recording is read from its manifest again, once, and gives the same picture.
    again = new_recorder(tmp_path, {})
    light = await again.light("h_3h", BASE)
    assert light["state"] == "interrupted" and light["segments"] == 86_400
    assert os.path.exists(directory / MANIFEST)
