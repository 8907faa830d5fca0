"""The sidecars on the served path: a real `cloudcourt serve` with its SFU in a worker process
(CLOUDCOURT_SFU_WORKERS=1), aiortc participants over Socket.IO, the recorder in its own process
(`cloudcourt recorder`) reading the worker's plain-RTP taps over UDP. What a court relies on: the
hearing is on record, segment by segment, `cloudcourt verify` accepts it, and a recorder killed
mid-hearing loses nothing it had sealed and says in the record how long it was gone."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import av
import psutil
import pytest

from tests.clients.recordings import recording, segments, verify, wait_recorded
from tests.e2e import Cast, eventually
from tests.signaling_server import start_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("server"), env={"CLOUDCOURT_SFU_WORKERS": "1"})
    yield srv
    srv.stop()


@pytest.fixture
async def cast(server):
    c = Cast(server)
    yield c
    await c.close()


def segment_path(server, hearing_id: str, segment: dict) -> Path:
    name = segment["url"].split("/recordings/files/", 1)[1]
    return Path(server.data_dir) / "recordings" / hearing_id / name


def decoded_frames(paths: list[Path]) -> int:
    """Frames decoded from a track's segments played in order, as a player would: a segment
    continues the one before it (it starts on a keyframe only when one came), so one decoder
    reads them all; a broken packet raises."""
    decoder: av.CodecContext | None = None
    frames = 0
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if decoder is None:
                decoder = av.CodecContext.create(stream.codec_context.name, "r")
            for packet in container.demux(stream):
                if packet.size:
                    frames += len(decoder.decode(packet))
    return frames


async def end(cast: Cast, hearing_id: str) -> None:
    status, body, _ = await cast.api.request("POST", f"/api/hearings/{hearing_id}/end")
    assert status == 200, body

    async def stopped() -> bool:
        return (await recording(cast.api, hearing_id))["state"] == "stopped"

    await eventually(stopped, 30, "the recording stops with the hearing", interval=0.3)


async def test_a_hearing_on_a_worker_process_is_recorded_with_decodable_video(server, cast):
    hearing = await cast.api.create_hearing()
    hid = hearing["id"]
    judge = await cast.join(hearing, "judge", 1)
    party = await cast.join(hearing, "party", 2, judge=judge)
    await judge.wait_video_from(party, min_frames=10, timeout=25)
    # Both people's camera and microphone, 3 s each of sealed segments.
    live = await wait_recorded(cast.api, hid, 3, tracks=4)
    videos = [t for t in live["originals"] if t["kind"] == "video"]
    assert {t["participant"]["id"] for t in videos} == {judge.participant_id, party.participant_id}
    for track in videos:
        found = await segments(cast.api, track)
        assert found, track
        assert found[0]["keyframe_start"], found[0]
        frames = decoded_frames([segment_path(server, hid, s) for s in found])
        # ~30 fps for 3 s and more: a stream read from the worker's tap, not a few stray frames.
        assert frames >= 45, (track["track"], frames)
    await end(cast, hid)
    result = verify(Path(server.data_dir), hid)
    assert result.returncode == 0, result.stdout + result.stderr


def recorder_pid(server) -> int | None:
    """The server's `cloudcourt recorder` child, if one runs now."""
    for child in psutil.Process(server.pid).children():
        with contextlib.suppress(psutil.Error):
            if child.cmdline()[1:4] == ["-m", "signaling", "recorder"]:
                return child.pid
    return None


async def sealed(cast: Cast, hearing_id: str) -> dict[str, str]:
    """Every sealed segment of the recording: its file → its sha256."""
    found: dict[str, str] = {}
    for track in (await recording(cast.api, hearing_id))["originals"]:
        for segment in await segments(cast.api, track):
            found[segment["url"]] = segment["sha256"]
    return found


async def test_kill_9_of_the_recorder_mid_hearing_loses_nothing_sealed(server, cast):
    hearing = await cast.api.create_hearing()
    hid = hearing["id"]
    judge = await cast.join(hearing, "judge", 3)
    party = await cast.join(hearing, "party", 4, judge=judge)
    await judge.wait_video_from(party, min_frames=10, timeout=25)
    await wait_recorded(cast.api, hid, 5, tracks=4)
    before = await sealed(cast, hid)
    pid = recorder_pid(server)
    assert pid is not None
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    async def back() -> bool:
        again = recorder_pid(server)
        if again is None or again == pid:
            return False
        status, _, _ = await cast.api.request("GET", f"/api/hearings/{hid}/recordings/state")
        return status == 200  # 503 while it restarts

    await eventually(back, 5, "the recorder is up again", interval=0.05)
    print(f"recorder up again after {time.monotonic() - t0:.2f} s")
    # Operators see it: the admin API and /metrics count the restart of that sidecar.
    status, listed, _ = await cast.api.request("GET", "/api/admin/workers")
    assert status == 200, listed
    recorder = next(s for s in listed["sidecars"] if s["name"] == "recorder")
    assert recorder["restarts"] >= 1 and recorder["pid"] != pid, recorder
    assert "killed by signal 9" in (recorder["last_exit"] or ""), recorder
    status, text, _ = await cast.api.request("GET", "/metrics", auth=None)
    samples = dict(line.split(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert float(samples['cloudcourt_sidecar_restarts_total{sidecar="recorder"}']) >= 1
    assert float(samples['cloudcourt_sidecar_up{sidecar="livestream"}']) == 1

    async def restarted() -> bool:
        events = (await recording(cast.api, hid))["events"]
        return any(e["type"] == "restart" for e in events)

    await eventually(restarted, 10, "a restart entry in the manifest", interval=0.2)
    # New segments after the restart, in new tracks of both people.
    await eventually(
        lambda: _grew(cast, hid, before), 20, "segments recorded after the restart", interval=0.3
    )
    now = await sealed(cast, hid)
    assert {url: now.get(url) for url in before} == before  # nothing sealed lost or changed
    events = (await recording(cast.api, hid))["events"]
    restart = next(e for e in events if e["type"] == "restart")
    assert (restart["cause"], restart["reason"]) == ("recorder", "recorder restarted"), restart
    assert restart["gap"]["to_ms"] >= restart["gap"]["from_ms"], restart
    # The hearing itself never noticed: frames of each other in every second around the kill.
    await eventually(lambda: time.monotonic() > t0 + 4.2, 6, "four seconds")
    for p, q in ((judge, party), (party, judge)):
        for start in range(-1, 4):
            window = t0 + start
            frames = [t for t, _ in p.sink.video[q.media_id].counters if window <= t < window + 1]
            assert len(frames) >= 5, f"{p.name} got {len(frames)} frames of {q.name} at +{start}s"
    await end(cast, hid)
    result = verify(Path(server.data_dir), hid)
    assert result.returncode == 0, result.stdout + result.stderr


async def _grew(cast: Cast, hearing_id: str, before: dict[str, str]) -> bool:
    tracks = (await recording(cast.api, hearing_id))["originals"]
    fresh = [t for t in tracks if t["first_segment"] and t["first_segment"]["url"] not in before]
    return len(fresh) >= 2
