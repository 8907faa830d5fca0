"""The recorder end to end: a real server, ffmpeg publishing over WHIP, real files on disk.

One hearing with a flash-and-beep publisher is recorded and archived once per module; the tests
read what it left (archive sync and length, verify, tampering, downloads).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest

from signaling.config import DB_FILE
from signaling.models import HearingState
from signaling.store import SqliteStore
from tests.clients.ffmpeg_whip import FfmpegWhip
from tests.clients.flash_beep_whip import FlashBeepWhip
from tests.clients.recordings import recording, segments, verify, wait_recorded
from tests.e2e import Api, eventually

# Alone, after the parallel run (scripts/test): it encodes in real time or measures CPU.
pytestmark = [pytest.mark.timeout(240), pytest.mark.serial]

JUDGE_NAME = "王法官"


async def in_session(api: Api, hearing_id: str) -> float:
    async def check() -> bool:
        _, body, _ = await api.request("GET", f"/api/hearings/{hearing_id}")
        return body["state"] == "in_session"

    await eventually(check, 30, "the judge's publish puts the hearing in session", interval=0.05)
    return time.monotonic()


async def archive_ready(api: Api, hearing_id: str, timeout: float = 150) -> dict:
    seen: dict = {}
    progress: list[float] = []

    async def ready() -> bool:
        seen.update(await recording(api, hearing_id))
        progress.append(seen["archive"]["progress"])
        assert seen["archive"]["state"] != "failed", seen["archive"]
        return seen["archive"]["state"] == "ready"

    await eventually(ready, timeout, "the composite archive is built", interval=0.5)
    seen["progress_seen"] = progress
    return seen


async def _flash_hearing(server, workdir: Path) -> dict:
    api = Api(server)
    hearing = await api.create_hearing()
    judge = await api.token(hearing["id"], "judge", JUDGE_NAME)
    party = await api.token(hearing["id"], "party", "张三")
    publisher = FlashBeepWhip(
        judge["whip_url"],
        judge["token"],
        width=320,
        height=240,
        fps=30,
        log_path=workdir / "flash.log",
    ).start()
    try:
        began = await in_session(api, hearing["id"])
        live = await wait_recorded(api, hearing["id"], 8)
    finally:
        await publisher.astop()
    status, ended, _ = await api.request("POST", f"/api/hearings/{hearing['id']}/end")
    assert status == 200, ended
    hearing_seconds = time.monotonic() - began
    final = await archive_ready(api, hearing["id"])
    for track in final["originals"]:
        track["files"] = await segments(api, track, limit=3)
    return {
        "hearing": hearing,
        "judge": judge,
        "party": party,
        "hearing_seconds": hearing_seconds,
        "live": live,
        "final": final,
    }


@pytest.fixture(scope="module")
def flash(server, tmp_path_factory):
    return asyncio.run(_flash_hearing(server, tmp_path_factory.mktemp("flash")))


def flash_onsets(path: Path) -> list[float]:
    """Times (s) at which the picture turns bright."""
    times, bright = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            luma = frame.to_ndarray(format="gray")
            times.append(float(frame.pts * stream.time_base))
            bright.append(luma.mean() > 128)
    return [t for i, t in enumerate(times) if bright[i] and (i == 0 or not bright[i - 1])]


def beep_onsets(path: Path) -> list[float]:
    """Times (s) at which the sound starts after at least half a second of silence."""
    chunks, start = [], None
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if start is None:
                start = float(frame.pts * stream.time_base)
            chunks.append(frame.to_ndarray().reshape(-1, frame.samples)[0])
    samples = np.abs(np.concatenate(chunks).astype(np.float64))
    rate = 48000
    window = rate // 1000  # 1 ms
    envelope = samples[: len(samples) // window * window].reshape(-1, window).max(axis=1)
    loud = envelope > envelope.max() * 0.3
    onsets, quiet = [], 0
    for ms, on in enumerate(loud):
        if on and quiet >= 500:
            onsets.append(start + ms / 1000)
        quiet = 0 if on else quiet + 1
    return onsets


def test_the_archive_decodes_lasts_as_long_as_the_hearing_and_keeps_beep_and_flash_together(
    flash, server, tmp_path
):
    final = flash["final"]
    assert final["state"] == "stopped"
    kinds = sorted((t["kind"], t["codec"].lower()) for t in final["originals"])
    assert kinds == [("audio", "audio/opus"), ("video", "video/h264")]
    for track in final["originals"]:
        assert track["participant"]["name"] == JUDGE_NAME
        assert track["participant"]["role"] == "judge"
        assert track["segments"] >= 8 and track["bytes"] > 0
        # Short segments: a crash loses at most about a second.
        assert all(f["end_ms"] - f["start_ms"] <= 1600 for f in track["files"]), track["files"]
    archive = final["archive"]
    path = server.data_dir / "recordings" / flash["hearing"]["id"] / "archive.mp4"
    with av.open(str(path)) as container:
        codecs = sorted(s.codec_context.name for s in container.streams)
        duration = container.duration / 1e6
    assert codecs == ["aac", "h264"]
    assert abs(duration - flash["hearing_seconds"]) <= 1.0, (duration, flash["hearing_seconds"])
    assert abs(archive["duration_seconds"] - duration) < 0.1
    # Progress was visible while it was being built.
    assert any(0 < p < 1 for p in final["progress_seen"]) or len(final["progress_seen"]) == 1

    flashes, beeps = flash_onsets(path), beep_onsets(path)
    assert len(flashes) >= 6 and len(beeps) >= 6, (flashes, beeps)
    offsets = [min(beeps, key=lambda b, f=f: abs(b - f)) - f for f in flashes]
    offsets = [o for o in offsets if abs(o) < 0.5]  # pairs, not a flash whose beep was cut off
    assert len(offsets) >= 6, (flashes, beeps)
    print("beep - flash offsets (ms):", [round(o * 1000) for o in offsets])
    assert max(abs(o) for o in offsets) <= 0.040, offsets


def test_verify_passes_and_names_a_flipped_byte_and_a_changed_manifest(flash, server, tmp_path):
    hearing_id = flash["hearing"]["id"]
    done = verify(server.data_dir, hearing_id)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout and flash["final"]["chain_head"] in done.stdout

    copy = tmp_path / "data"
    shutil.copytree(server.data_dir / "recordings" / hearing_id, copy / "recordings" / hearing_id)
    video = next(t for t in flash["final"]["originals"] if t["kind"] == "video")
    victim = video["files"][len(video["files"]) // 2]["url"].split("/files/", 1)[1]
    target = copy / "recordings" / hearing_id / victim
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    broken = verify(copy, hearing_id)
    assert broken.returncode != 0
    assert victim in broken.stderr and "altered" in broken.stderr, broken.stderr

    target.unlink()
    missing = verify(copy, hearing_id)
    assert missing.returncode != 0 and victim in missing.stderr and "missing" in missing.stderr

    manifest = copy / "recordings" / hearing_id / "manifest.jsonl"
    manifest.write_text(manifest.read_text().replace('"judge"', '"party"', 1))
    tampered = verify(copy, hearing_id)
    assert tampered.returncode != 0 and "manifest line" in tampered.stderr, tampered.stderr


async def test_only_the_court_may_download_and_ranges_work(flash, server):
    api = Api(server)
    hearing_id = flash["hearing"]["id"]
    other = await api.create_hearing()
    other_judge = await api.token(other["id"], "judge", "李法官")
    url = flash["final"]["archive"]["url"]
    listing = f"/api/hearings/{hearing_id}/recordings"
    for auth, expected in (
        (None, 401),
        (flash["party"]["token"], 403),
        (other_judge["token"], 401),
    ):
        for path in (url, listing):
            status, body, _ = await api.request("GET", path, auth=auth)
            assert status == expected and "error" in body, (path, auth and auth[:10], status, body)
    headers = {"Authorization": f"Bearer {flash['judge']['token']}", "Range": "bytes=0-99"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
        assert r.status == 206, await r.text()
        assert r.headers["Content-Range"].startswith("bytes 0-99/")
        body = await r.read()
    archive = server.data_dir / "recordings" / hearing_id / "archive.mp4"
    assert body == archive.read_bytes()[:100]
    status, _, _ = await api.request(
        "GET", f"/api/hearings/{hearing_id}/recordings/files/../jwt.key", auth="admin"
    )
    assert status == 404


async def test_the_listing_summarises_tracks_and_segments_come_page_by_page(flash, server):
    api = Api(server)
    hearing_id = flash["hearing"]["id"]
    listing = await recording(api, hearing_id)
    # A 3-hour hearing has ~10,800 segments per track: the listing never names them all.
    assert len(json.dumps(listing)) < 8000
    for track in listing["originals"]:
        assert "files" not in track and track["segments"] >= 8, track
        everything = await segments(api, track, limit=1000)
        paged = await segments(api, track, limit=3)  # followed through `next`
        assert paged == everything and len(paged) == track["segments"]
        assert paged[0] == track["first_segment"] and paged[-1] == track["last_segment"]
        assert (track["start_ms"], track["end_ms"]) == (paged[0]["start_ms"], paged[-1]["end_ms"])
        assert sum(s["bytes"] for s in paged) == track["bytes"]
        starts = [s["start_ms"] for s in paged]
        assert starts == sorted(starts) and len(set(starts)) == len(starts)
        status, page, _ = await api.request(
            "GET", f"{track['segments_url']}?offset={len(paged)}&limit=5"
        )
        assert status == 200 and page["segments"] == [] and page["next"] is None, page
        status, page, _ = await api.request(
            "GET", f"{track['segments_url']}?offset=2&limit=2", auth=flash["judge"]["token"]
        )
        assert status == 200 and page["segments"] == paged[2:4] and page["total"] == len(paged)
    url = listing["originals"][0]["segments_url"]
    for query in (
        "limit=0",
        "limit=1001",
        "limit=x",
        "offset=-1",
        "page=2",
        "limit=%C2%B2",
        "limit=1&limit=2",
    ):
        status, body, _ = await api.request("GET", f"{url}?{query}")
        assert status == 400 and query.split("=")[0] in body["error"], (query, body)
    for auth, expected in ((None, 401), (flash["party"]["token"], 403)):
        status, body, _ = await api.request("GET", url, auth=auth)
        assert status == expected, (auth, body)
    status, body, _ = await api.request(
        "GET", f"/api/hearings/{hearing_id}/recordings/tracks/t99-video/segments"
    )
    assert status == 404 and "t99-video" in body["error"], body


async def test_pause_and_resume_are_logged_with_actor_and_reason_and_nothing_is_recorded_between(
    server, tmp_path
):
    api = Api(server)
    hearing = await api.create_hearing()
    judge = await api.token(hearing["id"], "judge", JUDGE_NAME)
    party = await api.token(hearing["id"], "party", "张三", admitted=True)
    publisher = FfmpegWhip(judge["whip_url"], judge["token"], 1, log_path=tmp_path / "p.log")
    publisher.start()
    base = f"/api/hearings/{hearing['id']}/recording"
    try:
        await in_session(api, hearing["id"])
        await wait_recorded(api, hearing["id"], 2)
        status, body, _ = await api.request(
            "POST", f"{base}/pause", json={"reason": "休庭"}, auth=party["token"]
        )
        assert status == 403, body
        status, body, _ = await api.request("POST", f"{base}/pause", json={}, auth=judge["token"])
        assert status == 400 and "reason" in body["error"]
        status, body, _ = await api.request(
            "POST", f"{base}/pause", json={"reason": "休庭十分钟"}, auth=judge["token"]
        )
        assert status == 200 and body["state"] == "paused", body
        assert (await recording(api, hearing["id"]))["state"] == "paused"
        status, body, _ = await api.request(
            "POST", f"{base}/pause", json={"reason": "again"}, auth=judge["token"]
        )
        assert status == 409, body
        await asyncio.sleep(3)  # a pause long enough to show up as a hole in every track
        status, body, _ = await api.request(
            "POST", f"{base}/resume", json={"reason": "继续开庭"}, auth="admin"
        )
        assert status == 200 and body["state"] == "recording", body
        await eventually(
            lambda: _after_resume(api, hearing["id"]), 20, "recording goes on after the resume"
        )
    finally:
        await publisher.astop()
    done = await recording(api, hearing["id"])
    events = {e["type"]: e for e in done["events"]}
    assert events["start"]["actor"] == "system"
    assert events["pause"]["actor"] == judge["participant_id"]
    assert events["pause"]["actor_role"] == "judge" and events["pause"]["reason"] == "休庭十分钟"
    assert events["resume"]["actor"] == "admin" and events["resume"]["reason"] == "继续开庭"
    paused, resumed = events["pause"]["at_ms"], events["resume"]["at_ms"]
    for track in done["originals"]:
        files = await segments(api, track)
        inside = [f for f in files if paused + 300 < f["start_ms"] < resumed - 300]
        assert not inside, (track["track"], inside)
    await api.request("POST", f"/api/hearings/{hearing['id']}/end")


async def _after_resume(api: Api, hearing_id: str) -> bool:
    body = await recording(api, hearing_id)
    resumed = next(e for e in body["events"] if e["type"] == "resume")["at_ms"]
    return all(t["end_ms"] is not None and t["end_ms"] > resumed + 300 for t in body["originals"])


async def test_after_kill_9_the_recording_so_far_is_intact_verified_and_the_gap_logged(
    fresh_server, tmp_path
):
    api = Api(fresh_server)
    hearing = await api.create_hearing()
    judge = await api.token(hearing["id"], "judge", JUDGE_NAME)
    publisher = FfmpegWhip(judge["whip_url"], judge["token"], 1, log_path=tmp_path / "a.log")
    publisher.start()
    try:
        await in_session(api, hearing["id"])
        await wait_recorded(api, hearing["id"], 4)
        os.kill(fresh_server.pid, signal.SIGKILL)
        killed_at = time.time()
        fresh_server.proc.wait(10)
    finally:
        await publisher.astop()
    directory = fresh_server.data_dir / "recordings" / hearing["id"]
    epoch = json.loads((directory / "manifest.jsonl").read_text().splitlines()[0])["epoch"]
    fresh_server.restart()

    after = await recording(api, hearing["id"])
    restart = next(e for e in after["events"] if e["type"] == "restart")
    assert restart["actor"] == "system" and restart["gap"]["seconds"] > 0
    killed_ms = (killed_at - epoch) * 1000
    for track in after["originals"]:
        # Everything up to about a second before the kill is there, in sealed segments.
        assert track["end_ms"] >= killed_ms - 1000, (track["track"], killed_ms)
        assert restart["gap"]["from_ms"] >= killed_ms - 1000
    assert not list(directory.rglob("*.part"))
    done = verify(fresh_server.data_dir, hearing["id"])
    assert done.returncode == 0, done.stderr
    assert "restart" in done.stdout and "gap" in done.stdout

    # The hearing goes on: recording continues in new segments of new tracks.
    publisher = FfmpegWhip(judge["whip_url"], judge["token"], 1, log_path=tmp_path / "b.log")
    publisher.start()
    try:
        await eventually(
            lambda: _recorded_after(api, hearing["id"], restart["at_ms"]),
            40,
            "segments recorded after the restart",
        )
    finally:
        await publisher.astop()
    status, _, _ = await api.request("POST", f"/api/hearings/{hearing['id']}/end")
    assert status == 200
    await eventually(
        lambda: _stopped(api, hearing["id"]), 20, "the recording stops with the hearing"
    )
    done = verify(fresh_server.data_dir, hearing["id"])
    assert done.returncode == 0, done.stderr


async def _recorded_after(api: Api, hearing_id: str, at_ms: int) -> bool:
    body = await recording(api, hearing_id)
    late = [t for t in body["originals"] if t["start_ms"] is not None and t["start_ms"] > at_ms]
    return len(late) == 2


async def _stopped(api: Api, hearing_id: str) -> bool:
    return (await recording(api, hearing_id))["state"] == "stopped"


async def test_a_recording_left_open_by_a_crash_after_the_hearing_ended_is_closed_at_start_up(
    fresh_server, tmp_path
):
    """The crash comes between the end of the hearing (stored) and its `stop` entry: at start-up
    the recorder asks the hearing store, closes the recording and builds its archive."""
    # In-process (SFU_WORKERS 0): a recorder process outlives a killed server until it reads
    # its channel's end, and records on meanwhile, which this test's bound on the archive's end
    # catches; that fault is open in issue 17.
    fresh_server.stop()
    fresh_server.env["CLOUDCOURT_SFU_WORKERS"] = "0"
    fresh_server.start()
    api = Api(fresh_server)
    hearing = await api.create_hearing()
    judge = await api.token(hearing["id"], "judge", JUDGE_NAME)
    publisher = FfmpegWhip(judge["whip_url"], judge["token"], 1, log_path=tmp_path / "a.log")
    publisher.start()
    try:
        await in_session(api, hearing["id"])
        await wait_recorded(api, hearing["id"], 3)
        os.kill(fresh_server.pid, signal.SIGKILL)
        killed_at = time.time()
        fresh_server.proc.wait(10)
    finally:
        await publisher.astop()
    # What `POST …/end` had stored before the crash (the store's own code, on its own file).
    store = await SqliteStore.open(fresh_server.data_dir / DB_FILE)
    try:
        ended = await store.set_hearing_state(
            hearing["id"], HearingState.ENDED, only_from=(HearingState.IN_SESSION,)
        )
    finally:
        await store.close()
    assert ended is not None and ended.ended_at
    directory = fresh_server.data_dir / "recordings" / hearing["id"]
    manifest = (directory / "manifest.jsonl").read_text().splitlines()
    epoch = json.loads(manifest[0])["epoch"]
    assert not any(json.loads(line)["type"] == "stop" for line in manifest)
    await asyncio.sleep(2)  # the server stays down a while: that time is not part of the hearing
    fresh_server.restart()

    final = await archive_ready(api, hearing["id"])
    assert final["state"] == "stopped"
    kinds = [e["type"] for e in final["events"]]
    assert kinds[-2:] == ["restart", "stop"], kinds
    stop = final["events"][-1]
    assert stop["actor"] == "system" and "closed after a restart" in stop["reason"], stop
    # The recording ends when the hearing did (stored to the second), or with the last thing
    # recorded: its last frame, or the `interrupted` entry of a recorder in its own process,
    # which outlives the killed server long enough to seal what it had open.
    ended_ms = (datetime.fromisoformat(ended.ended_at).timestamp() - epoch) * 1000
    sealed = [e["at_ms"] for e in final["events"] if e["type"] == "interrupted"]
    last_ms = max([t["end_ms"] for t in final["originals"]] + sealed)
    assert abs(stop["end_ms"] - max(ended_ms, last_ms)) <= 1, (stop, ended_ms, last_ms)
    # The archive lasts as long as the hearing did, not until the server came back.
    assert stop["end_ms"] < (killed_at - epoch) * 1000 + 1000, (stop, killed_at - epoch)
    assert abs(final["archive"]["duration_seconds"] - stop["end_ms"] / 1000) < 0.1
    assert not list(directory.rglob("*.part"))
    status, body, _ = await api.request(
        "POST", f"/api/hearings/{hearing['id']}/recording/pause", json={"reason": "x"}
    )
    assert status == 409, body
    done = verify(fresh_server.data_dir, hearing["id"])
    assert done.returncode == 0, done.stderr
    assert "closed after a restart" in done.stdout and "state: stopped" in done.stdout
