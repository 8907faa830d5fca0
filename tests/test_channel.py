"""sfu.channel between two real processes: a child started with its end of a socketpair.

The child (CHILD below, run with ``python -c``) serves a few methods that echo, sleep, refuse,
crash, record the order they ran in, or flood the channel with events; the test is the parent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path

import pytest

from sfu.channel import Channel, ChannelClosed, RemoteError, decode, encode
from sfu.errors import SfuError

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, os, sys, time
from sfu.channel import Channel, NotFound
from sfu.errors import SfuError

async def main(fd):
    ch = await Channel.from_fd(fd, "child", max_frame=int(os.environ.get("MAX_FRAME", 1 << 20)))
    order = []

    async def slow(a):
        await asyncio.sleep(a["s"])
        return {"slept": a["s"]}

    def refuse(a):
        raise SfuError("this participant may not publish")

    def gone(a):
        raise NotFound("the connection was closed")

    def crash(a):
        return {}["missing"]

    async def record_async(a):
        order.append(a["n"])  # before any await: its synchronous prefix
        await asyncio.sleep(0.01)
        return {}

    def flood(a):
        for i in range(a["n"]):
            ch.emit("big", {"i": i, "pad": "x" * a["size"]})
            ch.emit("hb", {"i": i}, droppable=True)
        ch.emit("flooded", {"dropped": ch.dropped_events})
        print("flooded", flush=True)  # the parent starts reading only now

    ch.on_request("echo", lambda a: a)
    ch.on_request("slow", slow)
    ch.on_request("refuse", refuse)
    ch.on_request("gone", gone)
    ch.on_request("crash", crash)
    ch.on_request("record", lambda a: order.append(a["n"]))
    ch.on_request("record_async", record_async)
    ch.on_request("order", lambda a: order)
    ch.on_request("flood", flood)
    ch.on_request("ping_back", lambda a: ch.emit("pong", a))
    print("serving", flush=True)
    await ch.run()
    print("closed:", ch.closed.result(), flush=True)

asyncio.run(main(int(sys.argv[1])))
"""


async def serving(process: asyncio.subprocess.Process) -> None:
    """Wait until the child has imported sfu and serves its end: seconds on a loaded machine,
    which the tests' own timeouts must not include."""
    async with asyncio.timeout(60):
        assert (await process.stdout.readline()).strip() == b"serving"


class Child:
    def __init__(self, process: asyncio.subprocess.Process, channel: Channel) -> None:
        self.process = process
        self.channel = channel
        self.reader = asyncio.ensure_future(channel.run())
        self.events: list[tuple[str, dict]] = []

    def record(self, *names: str) -> None:
        for name in names:
            self.channel.on_event(name, lambda a, name=name: self.events.append((name, a)))

    async def output(self) -> str:
        out, _ = await self.process.communicate()
        return out.decode()


async def spawn(max_frame: int | None = None, **kw) -> Child:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if max_frame is not None:
        env["MAX_FRAME"] = str(max_frame)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(theirs.fileno()),
        pass_fds=(theirs.fileno(),),
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    theirs.close()
    await serving(process)
    return Child(process, await Channel.from_socket(ours, "parent", **kw))


@pytest.fixture
async def spawned():
    """`await spawned(**kw)` starts a child; every one is gone when the test ends."""
    children: list[Child] = []

    async def start(**kw) -> Child:
        children.append(await spawn(**kw))
        return children[-1]

    yield start
    for c in children:
        await c.channel.close()
        if c.process.returncode is None:
            c.process.kill()
        await c.process.communicate()


@pytest.fixture
async def child(spawned):
    return await spawned()


def test_frames_are_a_length_and_a_json_object():
    frame = encode({"id": 1, "m": "peer.close", "a": {"room": "h", "peer": "p_判"}})
    (length,) = struct.unpack(">I", frame[:4])
    assert length == len(frame) - 4
    assert decode(frame[4:]) == {"id": 1, "m": "peer.close", "a": {"room": "h", "peer": "p_判"}}
    with pytest.raises(ValueError):
        decode(b"[1, 2]")


async def test_requests_get_their_own_replies_in_order(child):
    replies = await asyncio.gather(
        child.channel.request("slow", {"s": 0.3}, timeout=5),
        *(child.channel.request("echo", {"n": n}, timeout=5) for n in range(20)),
    )
    assert replies[0] == {"slept": 0.3}
    assert replies[1:] == [{"n": n} for n in range(20)]


async def test_sync_and_async_handlers_run_in_arrival_order(child):
    # All five frames go out in one turn of our loop, so the child reads them at once: each
    # async handler's synchronous prefix must still run before the next frame is handled.
    calls = [("record_async" if n % 2 == 0 else "record", {"n": n}) for n in range(1, 6)]
    await asyncio.gather(*(child.channel.request(m, a, timeout=5) for m, a in calls))
    assert await child.channel.request("order", {}, timeout=5) == [1, 2, 3, 4, 5]


async def test_a_timeout_fails_one_request_and_the_channel_goes_on(child):
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await child.channel.request("slow", {"s": 3}, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert await child.channel.request("echo", {"still": "here"}, timeout=5) == {"still": "here"}


async def test_errors_come_back_as_sfu_errors_or_remote_errors(child):
    with pytest.raises(SfuError, match="this participant may not publish"):
        await child.channel.request("refuse", {}, timeout=5)
    with pytest.raises(SfuError, match="the connection was closed"):
        await child.channel.request("gone", {}, timeout=5)
    with pytest.raises(RemoteError, match="KeyError") as crashed:
        await child.channel.request("crash", {}, timeout=5)
    assert not isinstance(crashed.value, SfuError)  # a bug there is not a user's mistake
    with pytest.raises(RemoteError, match="unknown method"):
        await child.channel.request("no.such.method", {}, timeout=5)
    # A notify has nobody to answer: its failure comes back as an `error` event.
    child.record("error", "pong")
    child.channel.notify("refuse", {"room": "h1", "peer": "p1"})
    child.channel.notify("ping_back", {"done": True})
    deadline = time.monotonic() + 5
    while ("pong", {"done": True}) not in child.events and time.monotonic() < deadline:
        await child.channel.request("echo", {}, timeout=5)
    assert child.events[0] == (
        "error",
        {
            "method": "refuse",
            "room": "h1",
            "peer": "p1",
            "message": "this participant may not publish",
        },
    )


async def test_kill_9_is_eof_at_once_and_fails_pending_requests(child):
    pending = asyncio.ensure_future(child.channel.request("slow", {"s": 30}, timeout=30))
    assert await child.channel.request("echo", {}, timeout=5) == {}
    killed = time.monotonic()
    os.kill(child.process.pid, signal.SIGKILL)
    with pytest.raises(ChannelClosed):
        await pending
    assert time.monotonic() - killed < 1.0
    assert await child.channel.closed == "eof"
    assert await child.process.wait() == -signal.SIGKILL
    with pytest.raises(ChannelClosed):  # and later requests fail at once too
        await child.channel.request("echo", {}, timeout=5)


async def test_closing_our_end_is_eof_for_the_child(spawned):
    c = await spawned()
    assert await c.channel.request("echo", {}, timeout=5) == {}
    await c.channel.close()
    async with asyncio.timeout(5):
        assert "closed: eof" in await c.output()
    assert c.process.returncode == 0


async def test_an_oversized_frame_closes_the_channel(spawned):
    c = await spawned(max_frame=1000)
    assert await c.channel.request("echo", {"pad": "x" * 500}, timeout=5)
    started = time.monotonic()
    with pytest.raises(ChannelClosed):
        await c.channel.request("echo", {"pad": "x" * 2000}, timeout=5)
    assert time.monotonic() - started < 1.0
    async with asyncio.timeout(5):
        assert "closed: bad frame" in await c.output()


async def test_an_oversized_reply_closes_our_end(spawned):
    c = await spawned()
    c.channel.max_frame = 1000  # the parent's limit: the child's reply is too big for it
    with pytest.raises(ChannelClosed):
        await c.channel.request("echo", {"pad": "x" * 2000}, timeout=5)
    assert await c.channel.closed == "bad frame"
    async with asyncio.timeout(5):
        assert "closed: eof" in await c.output()


async def test_an_unparsable_frame_closes_the_channel():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(theirs.fileno()),
        pass_fds=(theirs.fileno(),),
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
    )
    theirs.close()
    await serving(process)
    with ours:
        ours.sendall(struct.pack(">I", 8) + b"not json")
        async with asyncio.timeout(5):
            out, _ = await process.communicate()
    assert "closed: bad frame" in out.decode()


async def flood_unread(n: int) -> tuple[asyncio.subprocess.Process, socket.socket]:
    """A child told to flood the channel with n × 64 KiB events while we read nothing of it
    (our end is a bare socket until the child says it is done)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(theirs.fileno()),
        pass_fds=(theirs.fileno(),),
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
    )
    theirs.close()
    await serving(process)
    ours.sendall(encode({"m": "flood", "a": {"n": n, "size": 64 * 1024}}))  # a notify
    return process, ours


async def test_droppable_events_give_way_under_backpressure_the_others_are_kept():
    # 40 × 64 KiB: far more than the socket holds, so the child's write buffer passes the
    # droppable threshold (256 KiB), but less than the overflow mark (4 MiB).
    process, sock = await flood_unread(40)
    try:
        async with asyncio.timeout(10):
            assert (await process.stdout.readline()).strip() == b"flooded"
        c = Child(process, await Channel.from_socket(sock, "parent"))
        c.record("big", "hb", "flooded")
        # Once the backlog drained, the held (latest) heartbeat goes out by itself: nothing
        # else is sent to or by the child meanwhile.
        hb: list[int] = []
        deadline = time.monotonic() + 10
        while 39 not in hb:
            assert time.monotonic() < deadline, f"the latest heartbeat never came: {hb}"
            await asyncio.sleep(0.05)
            hb = [a["i"] for name, a in c.events if name == "hb"]
        (dropped,) = [a["dropped"] for name, a in c.events if name == "flooded"]
        assert dropped > 0
        big = [a["i"] for name, a in c.events if name == "big"]
        assert big == list(range(40))  # every non-droppable event, in order
        assert len(hb) < 40
        assert hb[-1] == 39  # latest wins
        assert len(hb) + dropped == 40
        await c.channel.close()
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def test_overflow_closes_the_channel():
    # 80 × 64 KiB = 5 MiB, and we read nothing: past the child's 4 MiB high-water mark.
    process, sock = await flood_unread(80)
    with sock:
        async with asyncio.timeout(10):
            out, _ = await process.communicate()
    assert "closed: overflow" in out.decode()
    assert "flooded" in out.decode()  # the handler went on; the channel had closed under it
    assert process.returncode == 0
