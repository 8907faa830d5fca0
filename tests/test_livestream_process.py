"""The livestream compositor as a process of its own (livestream/process.py), killed mid-stream.

First with the test as the control plane: an in-process SFU room with a real aiortc judge
publishing, the compositor process (what `cloudcourt livestream` runs) started with its end of a
socketpair, its `tap.open` requests answered with plain RTP taps of the room (`Room.plain_tap`,
UDP on 127.0.0.1). SIGKILL mid-stream: the public files stay whole, the compositor started again
asks for the present (what is on air, who is in which room) and continues the same live playlist
after one discontinuity, with the judge's picture read over fresh taps, and a judge who was in a
private room stays out of the picture; the on-demand playlist lists every segment ever listed.
Then on a real `cloudcourt serve` with its SFU and sidecars in processes (design17 §7 test 5),
polling the live playlist as a player does (the m3u8 package), the public served throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
import pytest

from livestream import process
from livestream.playlist import LIVE_PLAYLIST, LOG, VOD_PLAYLIST, read_log
from sfu.channel import Channel
from signaling import sidecar_processes as host
from tests.clients import hls
from tests.clients.hls import decode_segment, parse_playlist
from tests.e2e import Api, Cast, eventually
from tests.sfu_harness import publish
from tests.signaling_server import start_server
from tests.test_livestream import read_tile, tiles, unit_hearing
from tests.test_livestream_playlist import whole

pytestmark = pytest.mark.serial  # encodes in real time

JUDGE = 11
DELAY = 1.0
# What `cloudcourt livestream` runs (signaling/cli.py).
CHILD = (
    "import sys; from livestream.process import build; "
    "from signaling.sidecar_processes import run_child; "
    "sys.exit(run_child('livestream', sys.argv[1:], build))"
)


class Compositor:
    """One `livestream.process` child and the test's side of its channel."""

    def __init__(self, proc: asyncio.subprocess.Process, channel: Channel) -> None:
        self.proc = proc
        self.channel = channel
        self.ready = asyncio.Event()
        self.taps: set[str] = set()
        self.alarms: list[dict[str, Any]] = []
        # The control plane's record: what is on air, who is in which room.
        self.on_air: list[dict[str, Any]] = []
        self.rooms: dict[str, Any] = {}
        channel.on_event(host.EV_READY, lambda a: self.ready.set())
        channel.on_event(host.EV_HEARTBEAT, lambda a: None)
        channel.on_event(host.EV_LOAD, lambda a: None)
        channel.on_event(host.EV_ALARM, self.alarms.append)
        channel.on_request(
            process.STREAM_PRESENT,
            lambda a: {"streams": self.on_air, "rooms": self.rooms},
        )
        self.reader = asyncio.ensure_future(channel.run())

    @classmethod
    async def spawn(
        cls, data_dir: Path, room: Any, on_air: list[dict[str, Any]], rooms: dict[str, Any]
    ) -> Compositor:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CHILD, "--channel-fd", str(theirs.fileno()),
                "--data-dir", str(data_dir), "--broadcast-delay", str(DELAY),
                "--timezone", "Asia/Shanghai",
                pass_fds=(theirs.fileno(),),
            )  # fmt: skip
        finally:
            theirs.close()
        child = cls(proc, await Channel.from_socket(ours, "livestream", max_frame=4 << 20))
        child.on_air, child.rooms = on_air, rooms

        def tap_open(a: dict[str, Any]) -> dict[str, Any]:
            tap = room.plain_tap(a["publication"], ("127.0.0.1", int(a["port"])))
            child.taps.add(tap.id)
            return {"tap": tap.id, "sdp": tap.sdp}

        def tap_close(a: dict[str, Any]) -> None:
            child.taps.discard(a["tap"])
            room.close_plain_tap(a["tap"])

        child.channel.on_request(host.TAP_OPEN, tap_open)
        child.channel.on_request(host.TAP_CLOSE, tap_close)
        await asyncio.wait_for(child.ready.wait(), 30)
        return child

    async def started(self, hearing, judge_id: str, publications) -> None:
        """What the control plane's proxy sends after every start of a sidecar: `sidecar.start`,
        then the publications now in the room."""
        started = asyncio.ensure_future(self.channel.request(host.START, {"hearings": []}, 20))
        for publication in publications:
            self.channel.notify(
                host.PUBLICATION_ADDED,
                {
                    "hearing": hearing.id,
                    "participant": {
                        "id": judge_id, "name": "审判员", "role": "judge", "masked": False
                    },
                    "publication": publication.info().to_wire(),
                },
            )  # fmt: skip
        assert await started == {}

    async def killed(self, room: Any) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL
        await asyncio.wait_for(self.channel.closed, 5)  # EOF at once
        for tap in self.taps:  # the control plane closes a dead sidecar's taps
            room.close_plain_tap(tap)
        await self.channel.close()


def judge_frames(directory: Path, uri: str, where) -> int:
    decoded = decode_segment((directory / uri).read_bytes())
    return sum(read_tile(luma, where) == JUDGE for luma in decoded.video)


async def test_a_killed_compositor_process_comes_back_and_continues_the_live_playlist(
    sfu_room, tmp_path
):
    _, room, events, _, pcs = sfu_room
    judge = room.add_peer("p_judge", publish=True, subscribe=False, listener=events)
    pcs.append(await publish(judge, JUDGE))
    await events.wait(lambda: len(events.publications) == 2)
    hearing = unit_hearing("h_process")
    directory = tmp_path / "streams" / hearing.id
    live = directory / LIVE_PLAYLIST
    where = tiles([("p_judge", "judge")])["p_judge"]
    sequences: list[int] = []

    def listed() -> list[str]:
        if not live.is_file():
            return []
        segments, ended, sequence = parse_playlist(live.read_text())
        assert not ended
        assert not sequences or sequence >= sequences[-1], (sequences, sequence)
        sequences.append(sequence)
        return [uri for uri, _ in segments]

    on_air: list[dict[str, Any]] = []
    rooms: dict[str, Any] = {hearing.id: {"members": {"p_judge": "main"}, "private": []}}
    child = await Compositor.spawn(tmp_path, room, on_air, rooms)
    try:
        await child.started(hearing, "p_judge", events.publications)
        reply = await child.channel.request(
            process.STREAM_START, {"hearing": hearing.to_json(), "masked": []}, 10
        )
        assert reply == {"ok": True}
        on_air.append({"hearing": hearing.to_json(), "masked": []})

        async def judge_on_air() -> bool:
            uris = listed()
            return len(uris) >= 2 and judge_frames(directory, uris[-1], where) > 10

        await eventually(judge_on_air, 40, "the judge on air")
        before = listed()
        assert child.taps  # read over plain RTP taps
        await child.killed(room)
        # Dead: what is public stays public and whole.
        for uri in listed():
            whole((directory / uri).read_bytes(), uri)

        # Started again, it asks what is on air and goes back on air by itself.
        child = await Compositor.spawn(tmp_path, room, on_air, rooms)
        await child.started(hearing, "p_judge", events.publications)
        first_new: list[str] = []

        async def continued() -> bool:
            uris = listed()
            new = [u for u in uris if u not in before]
            first_new[:] = new[:1]
            return len(new) >= 2 and judge_frames(directory, new[-1], where) > 10

        await eventually(continued, 40, "the live playlist continued with the judge")
        lines = live.read_text().splitlines()
        at = lines.index(first_new[0])
        assert lines[at - 2] == "#EXT-X-DISCONTINUITY", lines
        assert lines.count("#EXT-X-DISCONTINUITY") == 1, lines
        assert before[-1] in lines[:at]  # the same playlist, going on
        assert all((directory / uri).is_file() for uri in before)

        # The judge goes into a private room, and the compositor is killed again: started again,
        # it must not show the judge (the present says where they are), only the recess card.
        caucus = {"id": "r_caucus01", "kind": "private", "name": "调解室"}
        for change in (
            {"action": "open", "room": caucus, "participant": None, "to": None},
            {"action": "move", "room": caucus, "participant": "p_judge", "to": caucus["id"]},
        ):
            child.channel.notify(host.ROOM_CHANGED, {"hearing": hearing.id, "change": change})
        rooms[hearing.id] = {"members": {"p_judge": caucus["id"]}, "private": [caucus["id"]]}
        before = listed()
        await child.killed(room)
        child = await Compositor.spawn(tmp_path, room, on_air, rooms)
        await child.started(hearing, "p_judge", events.publications)
        new: list[str] = []

        def after_restart() -> bool:
            new[:] = [u for u in listed() if u not in before]
            return len(new) >= 3

        await eventually(after_restart, 40, "segments after the second restart")
        assert sum(judge_frames(directory, uri, where) for uri in new) == 0

        child.channel.notify(host.HEARING_ENDED, {"hearing": hearing.to_json()})
        await eventually(lambda: (directory / VOD_PLAYLIST).is_file(), 20, "on demand")
        vod, ended, _ = parse_playlist((directory / VOD_PLAYLIST).read_text())
        assert ended
        assert set(before) < {uri for uri, _ in vod}
        assert [uri for uri, _ in vod] == [
            f"seg{e.index:06d}.ts" for e in read_log(directory / LOG)
        ]
        assert await child.channel.request(host.CLOSE, {}, 20) == {}
        assert await asyncio.wait_for(child.proc.wait(), 10) == 0
        assert not child.alarms, child.alarms
    finally:
        if child.proc.returncode is None:
            child.proc.kill()
            await child.proc.wait()
        await child.channel.close()


# ---------------------------------------------------------------- served: kill -9 mid-stream


def livestream_pid(server) -> int | None:
    """The server's compositor process (`cloudcourt livestream`)."""
    for pid in server.child_pids():
        with contextlib.suppress(psutil.NoSuchProcess):
            cmdline = psutil.Process(pid).cmdline()
            if "livestream" in cmdline and "signaling" in cmdline:
                return pid
    return None


async def test_kill_9_of_the_compositor_mid_stream_continues_the_live_playlist(tmp_path):
    """design17 §7 test 5, on a real `cloudcourt serve` with its SFU and sidecars in processes."""
    server = start_server(
        tmp_path, env={"CLOUDCOURT_SFU_WORKERS": "1", "CLOUDCOURT_BROADCAST_DELAY": "1"}
    )
    cast = Cast(server)
    try:
        api = Api(server)
        hearing = await api.create_hearing(public=True)
        hid = hearing["id"]
        judge = await cast.join(hearing, "judge", JUDGE)
        await eventually(lambda: judge.pub_pc.connectionState == "connected", 15, "published")
        assert (await api.request("POST", f"/api/hearings/{hid}/live/start"))[0] == 200
        url = api.abs(f"/live/{hid}/high.m3u8")
        where = tiles([(judge.participant_id, "judge")])[judge.participant_id]
        listed: list[str] = []  # every segment ever listed, in order
        sequences: list[int] = []

        async def poll() -> hls.Playlist:
            found = await hls.playlist(url)
            assert found.status == 200 or not listed, found.status  # (404 before the first)
            assert not sequences or found.media_sequence >= sequences[-1], sequences
            sequences.append(found.media_sequence)
            listed.extend(u for u, _ in found.segments if u not in listed)
            return found

        async def judge_in(uri: str) -> bool:
            status, data, _ = await hls.fetch(hls.segment_url(url, uri))
            assert status == 200, uri
            decoded = hls.decode_segment(data)
            return sum(read_tile(f, where) == JUDGE for f in decoded.video) > 10

        async def on_air() -> bool:
            found = await poll()
            return len(found.segments) >= 3 and await judge_in(found.segments[-1][0])

        await eventually(on_air, 40, "the judge on air")
        pid = livestream_pid(server)
        assert pid is not None, server.child_pids()
        before = list(listed)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        # The public is served while the compositor is down: playlists, segments, the catalog.
        await poll()
        for uri in before[-3:]:
            assert (await hls.fetch(hls.segment_url(url, uri)))[0] == 200
        query = urlencode({"q": hearing["case_number"]})
        status, body, _ = await api.request("GET", f"/api/catalog?{query}", auth=None)
        assert status == 200 and [i["status"] for i in body["items"]] == ["live"], body

        async def listed_again() -> bool:
            return any(u not in before for u, _ in (await poll()).segments)

        await eventually(listed_again, 15, "a new segment after the restart")
        restarted = time.monotonic() - killed_at
        assert livestream_pid(server) not in (None, pid)

        async def judge_again() -> bool:
            new = [u for u, _ in (await poll()).segments if u not in before]
            return await judge_in(new[-1])

        await eventually(judge_again, 10, "the judge in the continued stream (fresh taps)")
        text = (await poll()).text.splitlines()
        first_new = next(u for u in listed if u not in before)
        at = text.index(first_new)
        assert text[at - 2] == "#EXT-X-DISCONTINUITY", text
        assert text.count("#EXT-X-DISCONTINUITY") == 1, text
        # Everything ever listed is still served, and whole.
        for uri in listed:
            status, data, _ = await hls.fetch(hls.segment_url(url, uri))
            assert status == 200, uri
            whole(data, uri)

        await judge.end_hearing()
        vod_url = api.abs(f"/vod/{hid}/high.m3u8")

        async def on_demand() -> bool:
            return (await hls.playlist(vod_url)).status == 200

        await eventually(on_demand, 20, "the on-demand playlist")
        vod = await hls.playlist(vod_url)
        assert vod.ended and set(listed) <= {u for u, _ in vod.segments}
        for uri, _ in vod.segments:
            status, data, _ = await hls.fetch(hls.segment_url(vod_url, uri))
            assert status == 200, uri
            whole(data, uri)
        print(f"compositor killed -> next segment listed: {restarted:.1f} s")
    finally:
        await cast.close()
        server.stop()
