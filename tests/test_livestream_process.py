"""The livestream compositor as a process of its own (livestream/process.py), killed mid-stream.

The test plays the control plane: an in-process SFU room with a real aiortc judge publishing, the
compositor process started with its end of a socketpair, its `tap.open` requests answered with
plain RTP taps of the room (`Room.plain_tap`, UDP on 127.0.0.1). SIGKILL mid-stream: the public
files stay whole, the compositor started again and told the present (as the control plane's
proxy does after every start) continues the same live playlist after one discontinuity, with the
judge's picture read over fresh taps; the on-demand playlist lists every segment ever listed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from livestream import process
from livestream.playlist import LIVE_PLAYLIST, LOG, VOD_PLAYLIST, read_log
from sfu.channel import Channel
from tests.clients.hls import decode_segment, parse_playlist
from tests.e2e import eventually
from tests.sfu_harness import publish
from tests.test_livestream import read_tile, tiles, unit_hearing

pytestmark = pytest.mark.serial  # encodes in real time

JUDGE = 11
DELAY = 1.0


class Compositor:
    """One `livestream.process` child and the test's side of its channel."""

    def __init__(self, proc: asyncio.subprocess.Process, channel: Channel) -> None:
        self.proc = proc
        self.channel = channel
        self.ready = asyncio.Event()
        self.taps: set[str] = set()
        self.alarms: list[dict[str, Any]] = []
        channel.on_event(process.EV_READY, lambda a: self.ready.set())
        channel.on_event(process.EV_HEARTBEAT, lambda a: None)
        channel.on_event(process.EV_ALARM, self.alarms.append)
        self.reader = asyncio.ensure_future(channel.run())

    @classmethod
    async def spawn(cls, data_dir: Path, room: Any) -> Compositor:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "livestream.process", "--channel-fd", str(theirs.fileno()),
                "--data-dir", str(data_dir), "--broadcast-delay", str(DELAY),
                "--timezone", "Asia/Shanghai",
                pass_fds=(theirs.fileno(),),
            )  # fmt: skip
        finally:
            theirs.close()
        child = cls(proc, await Channel.from_socket(ours, "livestream", max_frame=4 << 20))

        def tap_open(a: dict[str, Any]) -> dict[str, Any]:
            tap = room.plain_tap(a["publication"]["id"], ("127.0.0.1", int(a["port"])))
            child.taps.add(tap.id)
            return {"tap": tap.id, "sdp": tap.sdp}

        def tap_close(a: dict[str, Any]) -> None:
            child.taps.discard(a["tap"])
            room.close_plain_tap(a["tap"])

        child.channel.on_request(process.TAP_OPEN, tap_open)
        child.channel.on_request(process.TAP_CLOSE, tap_close)
        await asyncio.wait_for(child.ready.wait(), 30)
        return child

    async def tell_the_present(self, hearing, judge_id: str, publications) -> None:
        """What the control plane replays after every start of the compositor."""
        await self.channel.request(process.SIDECAR_START, {"hearings": []}, 10)
        for publication in publications:
            self.channel.notify(
                process.PUBLICATION_ADDED,
                {
                    "hearing": hearing.id,
                    "participant": {"id": judge_id, "name": "审判员", "role": "judge"},
                    "publication": publication.info().to_wire(),
                },
            )
        reply = await self.channel.request(
            process.STREAM_START, {"hearing": hearing.to_json(), "masked": []}, 10
        )
        assert reply == {"ok": True}

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

    child = await Compositor.spawn(tmp_path, room)
    try:
        await child.tell_the_present(hearing, "p_judge", events.publications)

        async def judge_on_air() -> bool:
            uris = listed()
            return len(uris) >= 2 and judge_frames(directory, uris[-1], where) > 10

        await eventually(judge_on_air, 40, "the judge on air")
        before = listed()
        assert child.taps  # read over plain RTP taps
        await child.killed(room)
        # Dead: what is public stays public and whole.
        for uri in listed():
            assert decode_segment((directory / uri).read_bytes()).video, uri

        child = await Compositor.spawn(tmp_path, room)
        await child.tell_the_present(hearing, "p_judge", events.publications)
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

        child.channel.notify(process.HEARING_ENDED, {"hearing": hearing.to_json()})
        await eventually(lambda: (directory / VOD_PLAYLIST).is_file(), 20, "on demand")
        vod, ended, _ = parse_playlist((directory / VOD_PLAYLIST).read_text())
        assert ended
        assert set(before) < {uri for uri, _ in vod}
        assert [uri for uri, _ in vod] == [
            f"seg{e.index:06d}.ts" for e in read_log(directory / LOG)
        ]
        assert await child.channel.request(process.SIDECAR_CLOSE, {}, 20) == {}
        assert await asyncio.wait_for(child.proc.wait(), 10) == 0
        assert not child.alarms, child.alarms
    finally:
        if child.proc.returncode is None:
            child.proc.kill()
            await child.proc.wait()
        await child.channel.close()
