"""A real `cloudcourt serve --sfu-workers 2` (CLOUDCOURT_SFU_WORKERS=2) with aiortc participants
over Socket.IO: hearings placed on two worker processes, a worker killed (-9) or wedged (SIGSTOP)
and its hearing re-placed without the lobby while the other hearing never stops. One server for
the module: the tests run in order and each leaves both workers ready."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import psutil
import pytest

from signaling.schemas_replies import Health
from tests.clients.participant import Participant
from tests.clients.whep import WhepClient
from tests.e2e import Cast, eventually, metric_value
from tests.signaling_server import start_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("server"),
        env={"CLOUDCOURT_SFU_WORKERS": "2", "CLOUDCOURT_HEARTBEAT_TIMEOUT": "2"},
    )
    yield srv
    srv.stop()


@pytest.fixture
async def cast(server):
    c = Cast(server)
    yield c
    await c.close()


async def workers(cast: Cast) -> list[dict]:
    status, body, _ = await cast.api.request("GET", "/api/admin/workers")
    assert status == 200, body
    return body["workers"]


def worker_of(entries: list[dict], hearing_id: str) -> dict:
    for w in entries:
        if any(h["id"] == hearing_id for h in w["hearings"]):
            return w
    raise AssertionError(f"hearing {hearing_id} is on no worker: {entries}")


async def all_ready(cast: Cast) -> None:
    async def ready() -> bool:
        return all(w["state"] == "ready" for w in await workers(cast))

    deadline = time.monotonic() + 30
    while not await ready():
        assert time.monotonic() < deadline, await workers(cast)
        await asyncio.sleep(0.1)


async def pair(cast: Cast, first_media: int) -> tuple[dict, Participant, Participant]:
    hearing = await cast.api.create_hearing()
    judge = await cast.join(hearing, "judge", first_media)
    party = await cast.join(hearing, "party", first_media + 1, judge=judge)
    for p, q in ((judge, party), (party, judge)):
        await p.wait_video_from(q, min_frames=10, timeout=30)
        await p.wait_audio_from(q, min_frames=10, timeout=20)
    return hearing, judge, party


async def test_health_counts_the_ready_workers_and_a_judge_token_cannot_list_them(cast):
    health = await cast.api.health()
    assert health["workers"] == {"ready": 2, "total": 2}
    Health.model_validate(health)  # the answer the OpenAPI document describes
    hearing = await cast.api.create_hearing()
    tok = await cast.api.token(hearing["id"], "judge", "judge-x")
    status, _, _ = await cast.api.request("GET", "/api/admin/workers", auth=tok["token"])
    assert status == 403
    status, _, _ = await cast.api.request("GET", "/api/admin/workers", auth=None)
    assert status == 401


async def test_two_hearings_on_two_workers_both_forward(cast):
    a, *_ = await pair(cast, 11)
    b, *_ = await pair(cast, 13)
    entries = await workers(cast)
    assert worker_of(entries, a["id"])["index"] != worker_of(entries, b["id"])["index"], entries
    text = await cast.api.metrics()
    for index in ("0", "1"):
        out = metric_value(text, f'cloudcourt_sfu_packets_out_total{{worker="{index}"}}')
        assert out is not None and out > 0, f"worker {index} forwarded nothing"
        assert metric_value(text, f'cloudcourt_sfu_worker_up{{worker="{index}"}}') == 1
        # Each party's subscription waited for the other's first keyframe, and its worker said
        # that it asked the publisher for one.
        asked = metric_value(text, f'cloudcourt_sfu_keyframe_requests_total{{worker="{index}"}}')
        assert asked is not None and asked > 0, f"worker {index} reported no keyframe request"


def standing(p: Participant, of: Participant) -> set[str]:
    """The publications of ``of`` that ``p`` was told about and not told are gone."""
    ids: set[str] = set()
    for _, event, data in p.events:
        if (
            event == "track_published"
            and data["publication"]["participant_id"] == of.participant_id
        ):
            ids.add(data["publication"]["id"])
        elif event == "track_unpublished":
            ids.discard(data["publication_id"])
    return ids


async def kill_and_recover(cast: Cast, how: int) -> None:
    await all_ready(cast)
    a, judge_a, party_a = await pair(cast, 21 if how == signal.SIGKILL else 31)
    b, judge_b, party_b = await pair(cast, 23 if how == signal.SIGKILL else 33)
    entries = await workers(cast)
    victim = worker_of(entries, a["id"])
    assert worker_of(entries, b["id"])["index"] != victim["index"]
    pid, restarts = victim["pid"], victim["restarts"]
    replaced = metric_value(
        await cast.api.metrics(),
        f'cloudcourt_placement_replacements_total{{worker="{victim["index"]}"}}',
    )
    assert replaced is not None
    before = {p: len(p.events) for p in (judge_a, party_a)}
    t0 = time.monotonic()
    os.kill(pid, how)
    try:
        # Seen: within 1 s for a kill, within the heartbeat timeout + 1 s for a wedged loop.
        budget = 1.0 if how == signal.SIGKILL else 2.0 + 1.0
        while True:
            entry = next(w for w in await workers(cast) if w["index"] == victim["index"])
            if entry["pid"] != pid or entry["state"] != "ready":
                break
            assert time.monotonic() - t0 < budget, entry
            await asyncio.sleep(0.05)
        print(f"worker loss seen after {time.monotonic() - t0:.2f} s")
        # Media again within 5 s (of the loss being seen), without the lobby.
        for p, q in ((judge_a, party_a), (party_a, judge_a)):
            await p.wait_event("media_reset", timeout=5)
            await eventually(
                lambda p=p, q=q: p.video_frames_since(q, t0) >= 10,
                t0 + 8 - time.monotonic(),
                f"{p.name} sees {q.name} again",
            )
            await eventually(
                lambda p=p, q=q: p.audio_frames_since(q, t0) >= 10, 5, f"{p.name} hears again"
            )
        print(f"media again after {time.monotonic() - t0:.2f} s")
        # Each was told the other's old publications ended: only the new ones stand.
        for p, q in ((judge_a, party_a), (party_a, judge_a)):
            await eventually(
                lambda p=p, q=q: len(standing(p, q)) == 2,
                5,
                f"{p.name} is told {q.name}'s old publications ended",
                detail=lambda p=p, q=q: f"{standing(p, q)}",
            )
        for p in (judge_a, party_a):
            later = [e for _, e, _ in p.events[before[p] :]]
            assert not {"lobby", "admitted", "removed"} & set(later), later
        # The other hearing never stopped: frames in every second around the loss.
        await eventually(lambda: time.monotonic() > t0 + 3.2, 5, "three seconds")
        for p, q in ((judge_b, party_b), (party_b, judge_b)):
            for start in range(0, 3):
                window = t0 + start
                frames = [
                    t for t, _ in p.sink.video[q.media_id].counters if window <= t < window + 1
                ]
                assert len(frames) >= 5, (
                    f"{p.name} got {len(frames)} frames of {q.name} at +{start}s"
                )
        entry = next(w for w in await workers(cast) if w["index"] == victim["index"])
        assert entry["restarts"] >= restarts + 1, entry
        if how == signal.SIGKILL:
            assert entry["last_exit"] == "killed by signal 9", entry
        else:
            assert "no heartbeat" in entry["last_exit"], entry
        text = await cast.api.metrics()
        restarted = metric_value(
            text, f'cloudcourt_sfu_worker_restarts_total{{worker="{victim["index"]}"}}'
        )
        assert restarted is not None and restarted >= restarts + 1
        moved = metric_value(
            text, f'cloudcourt_placement_replacements_total{{worker="{victim["index"]}"}}'
        )
        assert moved is not None and moved >= replaced + 1, "the re-placement is not counted"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    await all_ready(cast)
    # The restarted worker rejoined the pool: its hearing moved away, so it is the least loaded
    # and takes the next one (hearings are not moved back).
    entries = await workers(cast)
    assert worker_of(entries, a["id"])["index"] != victim["index"], entries
    c = await cast.api.create_hearing()
    await cast.join(c, "judge", 25 if how == signal.SIGKILL else 35)
    assert worker_of(await workers(cast), c["id"])["index"] == victim["index"]


async def test_kill_9_of_a_worker_recovers_its_hearing_and_the_other_never_stops(cast):
    await kill_and_recover(cast, signal.SIGKILL)


async def test_a_wedged_worker_is_detected_by_its_heartbeat_and_replaced(cast):
    await kill_and_recover(cast, signal.SIGSTOP)


async def test_explicit_consume_a_whep_playback_of_the_judge_receives_nothing_of_the_party(cast):
    """The worker forwards only what the control plane consumed: the playback of the judge gets
    the judge's publications, never the party's (which the party's subscriber peers all get)."""
    await all_ready(cast)
    hearing, judge, party = await pair(cast, 37)  # ids 1..40: distinct tones
    viewer = await cast.api.token(hearing["id"], "party", "whep player", admitted=True)
    whep = WhepClient(viewer["whep_url"], viewer["token"], name="whep")
    cast.closers.append(whep.stop)
    await whep.start()
    await whep.wait_video_from(judge.media_id, min_frames=15, timeout=25)
    t = time.monotonic()
    await eventually(lambda: judge.video_frames_since(party, t) >= 30, 15, "the party's video")
    assert set(whep.sink.video) == {judge.media_id}, whep.sink.summary()
    assert set(whep.sink.audio) <= {judge.media_id}, whep.sink.summary()


def test_the_workers_of_a_server_killed_by_signal_9_exit_by_themselves(tmp_path):
    """No worker (nor sidecar) outlives its control plane, even one that had no time to shut
    them down: each sees its channel end and exits."""
    srv = start_server(tmp_path / "server", env={"CLOUDCOURT_SFU_WORKERS": "2"})
    try:
        assert len(srv.worker_pids()) == 2, srv.child_pids()
        children = [psutil.Process(pid) for pid in srv.child_pids()]
        os.kill(srv.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {[c.cmdline() for c in alive]}"
    finally:
        srv.stop()
