"""signaling.supervisor.Child over a real `python -m sfu.worker_process` child: ready, a kill -9
seen within 1 s and restarted, a SIGSTOPped (wedged) worker caught by its missing heartbeat and
replaced, and `failed` once its restarts keep failing."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from sfu.config import SfuConfig
from sfu.remote import RemoteWorker
from signaling.supervisor import Child, ChildSpec
from tests.e2e import eventually

ROOT = Path(__file__).resolve().parent.parent


class Recorded:
    def __init__(self) -> None:
        self.ready: list[tuple[float, int | None]] = []
        self.lost: list[tuple[float, str]] = []

    def on_ready(self, child: Child[RemoteWorker]) -> None:
        self.ready.append((time.monotonic(), child.pid))

    def on_lost(self, child: Child[RemoteWorker], reason: str) -> None:
        self.lost.append((time.monotonic(), reason))


def supervised(spec: ChildSpec, spawn=None) -> tuple[Child[RemoteWorker], Recorded]:
    seen = Recorded()

    async def real() -> RemoteWorker:
        return await RemoteWorker.spawn(0, SfuConfig(ice_loopback=True), cwd=ROOT)

    child: Child[RemoteWorker] = Child(
        spec, spawn or real, on_ready=seen.on_ready, on_lost=seen.on_lost
    )
    return child, seen


async def stop(child: Child[RemoteWorker]) -> None:
    pid = child.pid
    await child.stop(lambda worker: worker.shutdown(grace=5))
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


async def test_kill_9_is_seen_within_a_second_and_the_worker_restarts() -> None:
    child, seen = supervised(ChildSpec("sfu-worker-0"))
    await child.start()
    try:
        assert child.state == "ready" and child.pid is not None
        assert child.rss_bytes() > 10_000_000  # a real Python process with aiortc loaded
        first = child.pid
        t0 = time.monotonic()
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: seen.lost, 1.0, "the loss")
        assert seen.lost[0][0] - t0 < 1.0
        assert seen.lost[0][1] == "killed by signal 9"
        await eventually(lambda: child.state == "ready" and child.pid != first, 30, "a restart")
        print(f"respawn after kill -9: {seen.ready[-1][0] - t0:.2f} s")
        assert child.restarts == 1 and child.last_exit == "killed by signal 9"
        # The new worker answers.
        assert child.current is not None
        assert "peers" in await child.current.stats()
    finally:
        await stop(child)


async def test_a_wedged_worker_is_killed_by_the_watchdog_and_replaced() -> None:
    child, seen = supervised(ChildSpec("sfu-worker-0", heartbeat_timeout=1.0))
    await child.start()
    stopped = child.pid
    assert stopped is not None
    try:
        t0 = time.monotonic()
        os.kill(stopped, signal.SIGSTOP)  # the socket stays open: only the silence tells
        await eventually(lambda: seen.lost, 1.0 + 1.5, "the watchdog")
        took = seen.lost[0][0] - t0
        print(f"wedged worker detected after {took:.2f} s")
        assert took >= 1.0
        assert "no heartbeat" in seen.lost[0][1] and "killed by signal 9" in seen.lost[0][1]
        await eventually(lambda: child.state == "ready" and child.pid != stopped, 30, "a restart")
        with contextlib.suppress(ProcessLookupError):
            os.kill(stopped, 0)
            raise AssertionError("the wedged worker is still there")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stopped, signal.SIGCONT)
            os.kill(stopped, signal.SIGKILL)
        await stop(child)


async def test_restarts_that_keep_failing_end_in_failed() -> None:
    spawned = 0

    async def spawn() -> RemoteWorker:
        nonlocal spawned
        spawned += 1
        # After the first, every child exits at once (a broken install): its configure fails.
        argv = None if spawned == 1 else [sys.executable, "-c", "import sys; sys.exit(3)"]
        return await RemoteWorker.spawn(
            0, SfuConfig(ice_loopback=True), argv=argv, cwd=ROOT, ready_timeout=10
        )

    child, seen = supervised(
        ChildSpec("sfu-worker-0", backoff=(0.0, 0.1, 0.2), restart_limit=3), spawn
    )
    await child.start()
    try:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        await eventually(lambda: child.state == "failed", 20, "failed")
        assert spawned == 1 + 3 and child.restarts == 3
        assert child.last_exit is not None and child.last_exit.startswith("restart failed")
        assert len(seen.lost) == 1 and len(seen.ready) == 1
    finally:
        await stop(child)
