"""The recorder on a disk that really fills up: a tmpfs of a few MB under the server's recordings
(in the server's own mount namespace), filled to the last byte while a hearing is recorded.

What the court must see: an alarm on the judge's console and an ERROR in the log; the hearing
itself goes on (parties still see the judge); once space is freed recording resumes by itself;
the record stays consistent — every sealed segment whole and under the hash chain, the lost
stretch logged as a gap per track. A second test takes the recorder's two writers (segment muxer,
manifest) one step at a time on the same full filesystem.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import subprocess
import time
from datetime import datetime

import av
import pytest

from recorder.manifest import Manifest, read_entries
from recorder.segments import Segment, container_for
from recorder.track import RETRY_AFTER_FAILURE
from sfu.depacketize import Frame
from tests.clients.participant import Participant
from tests.clients.recordings import recording, verify, wait_recorded
from tests.clients.small_disk import SmallDiskServer
from tests.e2e import Cast, eventually

pytestmark = pytest.mark.timeout(180)

FAILED = "No space left on device"


def _can_mount() -> bool:
    probe = ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "t", "/mnt"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture
def small_disk(tmp_path):
    if not _can_mount():
        pytest.skip("needs root to mount a tmpfs in a private mount namespace (unshare -m)")
    server = SmallDiskServer(tmp_path / "server", size_mb=12).start()
    yield server
    server.stop()


def _manifest(server: SmallDiskServer, hearing_id: str) -> list[dict]:
    text = (server.recordings / hearing_id / "manifest.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def _failures(server: SmallDiskServer) -> dict[str, list[datetime]]:
    """Per track, when the log says the disk refused one of its writes."""
    found: dict[str, list[datetime]] = {}
    for line in server.log_text().splitlines():
        if " ERROR " in line and FAILED in line and "recording t" in line:
            track = line.split("recording ", 1)[1].split()[0]
            found.setdefault(track, []).append(datetime.fromisoformat(line.split()[0]))
    return found


def _retried(server: SmallDiskServer) -> bool:
    """Some track was refused, paused, tried again and was refused again."""
    return any(
        (times[-1] - times[0]).total_seconds() >= RETRY_AFTER_FAILURE - 1
        for times in _failures(server).values()
    )


def _alarmed_tracks(judge: Participant) -> set[str]:
    return {
        data["detail"]["track"]
        for _, _, data in judge.events_named("alarm")
        if data["code"] == "recording_disk_error"
    }


async def _keep_full(server: SmallDiskServer) -> None:
    """Whatever the recorder frees by dropping a torn segment is taken again at once."""
    while True:
        server.fill()
        await asyncio.sleep(0.1)


async def test_a_full_disk_alarms_the_judge_the_hearing_goes_on_and_recording_resumes(small_disk):
    server = small_disk
    cast = Cast(server)
    try:
        hearing = await cast.api.create_hearing()
        judge = await cast.join(hearing, "judge", 1)
        party = await cast.join(hearing, "party", 2, judge=judge, admitted=True)
        await wait_recorded(cast.api, hearing["id"], 2, tracks=4)
        epoch = _manifest(server, hearing["id"])[0]["epoch"]

        full_ms = (time.time() - epoch) * 1000
        filler = asyncio.create_task(_keep_full(server))
        try:
            alarm = await judge.wait_event(
                "alarm", lambda a: a["code"] == "recording_disk_error", timeout=20
            )
            assert alarm["source"] == "recorder" and FAILED in alarm["message"], alarm
            # The failure stands while the disk refuses: a clerk who comes after every track
            # has alarmed hears of it at once (a track's alarm is not repeated within 30 s).
            await eventually(
                lambda: len(_alarmed_tracks(judge)) == 4,
                20,
                "every track alarms",
                detail=lambda: str(_alarmed_tracks(judge)),
            )
            clerk = await cast.join(hearing, "clerk", 3, publish=False)
            await clerk.wait_event(
                "alarm", lambda a: a["code"] == "recording_disk_error", timeout=5
            )
            # The hearing goes on: the party still decodes the judge's pictures and voice.
            since = time.monotonic()
            await party.wait_video_from(judge, min_frames=30, since=since, timeout=20)
            await party.wait_audio_from(judge, min_frames=50, since=since, timeout=20)
            await judge.wait_video_from(party, min_frames=30, since=since, timeout=20)
            state = await recording(cast.api, hearing["id"])
            assert state["state"] == "failed", state["state"]
            # Retried after its pause, and refused again while the disk is still full.
            await eventually(
                lambda: _retried(server),
                30,
                "the recorder retries writing while the disk is full",
                detail=lambda: str(_failures(server)),
            )
        finally:
            filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await filler
        server.free()
        freed_ms = (time.time() - epoch) * 1000
        assert server.free_bytes() > 8_000_000

        async def resumed() -> bool:
            body = await recording(cast.api, hearing["id"])
            tracks = body["originals"]
            return body["state"] == "recording" and all(
                t["gaps"] and t["end_ms"] > t["gaps"][-1]["to_ms"] + 1000 for t in tracks
            )

        await eventually(resumed, 40, "every track records again, after a logged gap")
        assert len(_failures(server)) == 4, _failures(server)
        assert "is written again" in server.log_text()

        entries = _manifest(server, hearing["id"])
        gaps = [e for e in entries if e["type"] == "gap"]
        for gap in gaps:
            assert gap["reason"] == f"not written: {FAILED}" and gap["actor"] == "system", gap
            # The gap covers the whole time the disk was full, and only about that.
            assert full_ms - 2000 <= gap["from_ms"] <= full_ms + 3000, (gap, full_ms)
            # (A segment opened just before space came back may be sealed whole: until sealing,
            # its frames can sit in the muxer's buffer, in memory.)
            assert gap["to_ms"] >= freed_ms - 1600, (gap, freed_ms)
            inside = [
                e
                for e in entries
                if e["type"] == "segment"
                and e["track"] == gap["track"]
                and gap["from_ms"] < e["end_ms"] - 20
                and e["start_ms"] < gap["to_ms"]
            ]
            assert not inside, (gap, inside)
        # Every sealed segment is whole: all its frames can be read back.
        for entry in entries:
            if entry["type"] == "segment":
                with av.open(str(server.recordings / hearing["id"] / entry["file"])) as f:
                    packets = [p for p in f.demux(f.streams[0]) if p.size]
                assert len(packets) == entry["frames"], entry
        done = verify(server.data_dir_view, hearing["id"])
        assert done.returncode == 0, done.stderr
        assert "OK" in done.stdout and "gap" in done.stdout, done.stdout
    finally:
        await cast.close()


async def _set_paused(cast: Cast, hearing_id: str, action: str, reason: str, token: str):
    return await cast.api.request(
        "POST",
        f"/api/hearings/{hearing_id}/recording/{action}",
        json={"reason": reason},
        auth=token,
    )


async def test_a_pause_the_full_disk_refuses_answers_500_and_changes_nothing(small_disk):
    """Nobody publishes, so the manifest grows only by the court's own entries: pauses and
    resumes with long reasons bring its end close to a page boundary, then the disk is filled
    and the next pause needs a page that is not there (a file grows inside its last page
    without taking space, so a short entry could still fit)."""
    server = small_disk
    cast = Cast(server)
    page = os.sysconf("SC_PAGE_SIZE")
    reason = "休庭" * 250  # the longest reason: 1,500 bytes of text
    try:
        hearing = await cast.api.create_hearing()
        hearing_id = hearing["id"]
        judge = await cast.join(hearing, "judge", 1, publish=False)
        manifest = server.recordings / hearing_id / "manifest.jsonl"

        async def begun() -> bool:
            return (await recording(cast.api, hearing_id))["manifest_entries"] > 0

        await eventually(begun, 10, "the recording begins")
        # Each pause and resume adds well under the room the failing pause needs: the room
        # left in the last page cannot skip past it.
        while -manifest.stat().st_size % page >= len(reason.encode()):
            for action in ("pause", "resume"):
                status, body, _ = await _set_paused(
                    cast, hearing_id, action, "休庭" * 40, judge.token
                )
                assert status == 200, body
        before = manifest.read_bytes()
        server.fill()

        status, body, headers = await _set_paused(cast, hearing_id, "pause", reason, judge.token)
        assert status == 500, (status, body)
        assert headers["Content-Type"].startswith("application/json")
        assert FAILED in body["error"] and "nothing changed" in body["error"], body
        assert manifest.read_bytes() == before
        assert (await recording(cast.api, hearing_id))["state"] == "recording"
        status, body, _ = await _set_paused(cast, hearing_id, "resume", "继续", judge.token)
        assert status == 409, body  # still running: there is nothing to resume

        server.free()
        status, body, _ = await _set_paused(cast, hearing_id, "pause", reason, judge.token)
        assert status == 200 and body["state"] == "paused", body
        assert (await recording(cast.api, hearing_id))["state"] == "paused"
        entries = _manifest(server, hearing_id)
        assert entries[-1]["type"] == "pause" and entries[-1]["reason"] == reason
        done = verify(server.data_dir_view, hearing_id)
        assert done.returncode == 0, done.stderr
    finally:
        await cast.close()


def test_on_a_full_disk_no_torn_segment_is_sealed_and_the_chain_is_never_broken(small_disk):
    """The recorder's two writers, one step at a time, on the same real full filesystem."""
    directory = small_disk.recordings / "h_units"
    directory.mkdir()
    manifest = Manifest(directory)
    manifest.append("start", epoch=0.0)
    segment = Segment(directory / "t01-audio", 1, container_for("audio/opus"), None)
    for i in range(40):  # ~1 s of Opus: it fits in the muxer's buffer, nothing is on disk yet
        segment.write(Frame(os.urandom(120), i * 960, 0.0, True, None), i * 20)
    small_disk.fill()
    with pytest.raises(OSError) as refused:
        segment.seal(20)  # the buffer meets the full disk when the file is closed
    assert refused.value.errno == errno.ENOSPC
    segment.discard()
    assert list((directory / "t01-audio").iterdir()) == []  # nothing torn left to look sealed

    before = manifest.path.read_bytes()
    with pytest.raises(OSError) as refused:  # more than the manifest's last page has left
        manifest.append("gap", track="t01-audio", reason="x" * 8192)
    assert refused.value.errno == errno.ENOSPC
    assert manifest.path.read_bytes() == before and manifest.count == 1

    small_disk.free()
    manifest.append("gap", track="t01-audio", reason="written once there is space")
    entries = [entry for _, entry in read_entries(manifest.path)]
    assert [e["n"] for e in entries] == [0, 1] and entries[1]["prev"] == entries[0]["hash"]
