"""Supervision of one child process that talks over a `sfu.channel.Channel` (design17 §5).

A `Child` spawns its process through a factory (for an SFU worker, `sfu.RemoteWorker.spawn`),
then watches it. Three paths feed one loss: the channel's EOF (milliseconds after a kill -9: the
kernel closes the child's end), the process's exit, and a watchdog that kills a child whose
heartbeat stopped (a wedged loop keeps its socket open, so only silence tells). Then it restarts
with backoff, or gives up (`failed`) after too many restarts in a short time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import psutil  # type: ignore[import-untyped]

from sfu.channel import Channel

log = logging.getLogger("cloudcourt.supervisor")

State = Literal["starting", "ready", "restarting", "failed", "stopped"]

BACKOFF = (0.0, 0.5, 1.0, 2.0, 5.0)
HEALTHY_RESET = 60.0  # this long up and the backoff starts from 0 again
RESTART_LIMIT = 10  # more restarts than this within RESTART_WINDOW: failed
RESTART_WINDOW = 300.0
WATCHDOG_TICK = 0.25
# A watchdog tick this late means the control plane itself was blocked: the silence may be ours.
WATCHDOG_LATE = 0.5


class Spawned(Protocol):
    """What a spawned child gives the supervisor (`sfu.RemoteWorker` is one)."""

    @property
    def channel(self) -> Channel: ...
    @property
    def process(self) -> asyncio.subprocess.Process: ...


T = TypeVar("T", bound=Spawned)


@dataclass
class ChildSpec:
    name: str  # "sfu-worker-1", "recorder", "livestream"
    heartbeat_timeout: float = 2.0
    ready_timeout: float = 30.0
    backoff: tuple[float, ...] = BACKOFF
    restart_limit: int = RESTART_LIMIT  # restarts within RESTART_WINDOW before `failed`


def exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exited with status {code}"


class Child(Generic[T]):
    def __init__(
        self,
        spec: ChildSpec,
        spawn: Callable[[], Awaitable[T]],
        *,
        on_ready: Callable[[Child[T]], None] | None = None,
        on_lost: Callable[[Child[T], str], None] | None = None,
    ) -> None:
        self.spec = spec
        self._spawn = spawn
        self.on_ready = on_ready
        self.on_lost = on_lost
        self.state: State = "starting"
        self.current: T | None = None
        self.pid: int | None = None
        self.restarts = 0
        self.last_exit: str | None = None
        self.started_at = 0.0  # wall clock of the current process's start
        self.ready_since = 0.0  # monotonic
        self._restart_times: deque[float] = deque()
        self._failures = 0  # consecutive, for the backoff
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._proc: psutil.Process | None = None
        self._stopping = False

    # -- figures ------------------------------------------------------------------------------

    @property
    def channel(self) -> Channel | None:
        return None if self.current is None else self.current.channel

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def heartbeat_age(self) -> float | None:
        channel = self.channel
        return None if channel is None else time.monotonic() - channel.last_received

    def cpu_seconds(self) -> float:
        with contextlib.suppress(psutil.Error):
            if self._proc is not None:
                times = self._proc.cpu_times()
                return float(times.user + times.system)
        return 0.0

    def rss_bytes(self) -> int:
        with contextlib.suppress(psutil.Error):
            if self._proc is not None:
                return int(self._proc.memory_info().rss)
        return 0

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the first process and supervise it; returns once it is ready (or raises)."""
        await self._start_one()
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        return self._ready.is_set()

    async def _start_one(self) -> None:
        child = await asyncio.wait_for(self._spawn(), self.spec.ready_timeout)
        self.current = child
        self.pid = child.process.pid
        self.started_at = time.time()
        self.ready_since = time.monotonic()
        try:
            self._proc = psutil.Process(self.pid)
        except psutil.Error:
            self._proc = None
        self.state = "ready"
        self._ready.set()
        log.info("%s ready (pid %s)", self.spec.name, self.pid)
        if self.on_ready is not None:
            self.on_ready(self)

    async def _supervise(self) -> None:
        while True:
            reason = await self._watch()
            if self._stopping:
                return
            self._ready.clear()
            self.last_exit = reason
            self.state = "restarting"
            log.warning("%s (pid %s) lost: %s", self.spec.name, self.pid, reason)
            if self.on_lost is not None:
                try:
                    self.on_lost(self, reason)
                except Exception:
                    log.exception("%s: the loss handler failed", self.spec.name)
            if not await self._restart():
                return

    async def _restart(self) -> bool:
        """Respawn with backoff until it is ready (True), or give up (False)."""
        if time.monotonic() - self.ready_since >= HEALTHY_RESET:
            self._failures = 0  # it had been up a good while: this is no crash loop
        while not self._stopping:
            now = time.monotonic()
            while self._restart_times and now - self._restart_times[0] > RESTART_WINDOW:
                self._restart_times.popleft()
            if len(self._restart_times) >= self.spec.restart_limit:
                self.state = "failed"
                log.error(
                    "%s failed: %d restarts in %.0f s; not restarted again",
                    self.spec.name,
                    len(self._restart_times),
                    RESTART_WINDOW,
                )
                return False
            backoff = self.spec.backoff
            await asyncio.sleep(backoff[min(self._failures, len(backoff) - 1)])
            self._failures += 1
            self._restart_times.append(time.monotonic())
            self.restarts += 1
            try:
                await self._start_one()
            except Exception as exc:
                log.warning("%s: restart failed: %s", self.spec.name, exc)
                self.last_exit = f"restart failed: {exc}"
                continue
            return True
        return False

    async def _watch(self) -> str:
        """Until the current child is lost; why (its exit status when there is one)."""
        child = self.current
        assert child is not None
        channel, process = child.channel, child.process
        eof: asyncio.Future[str] = asyncio.ensure_future(asyncio.shield(channel.closed))
        exited: asyncio.Future[int] = asyncio.ensure_future(process.wait())
        wedged: asyncio.Future[str] = asyncio.ensure_future(self._watchdog(channel))
        waiting: set[asyncio.Future[Any]] = {eof, exited, wedged}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            eof.cancel()
            wedged.cancel()
        if self._stopping:
            exited.cancel()
            return "stopped"
        why = wedged.result() if wedged.done() and not wedged.cancelled() else None
        if why is None and eof.done() and not eof.cancelled() and eof.result() == "overflow":
            why = "channel overflow (wedged)"
        # EOF normally means the process is gone too; one that still runs is killed (a channel
        # it no longer answers on is as good as a wedged loop).
        try:
            code = await asyncio.wait_for(asyncio.shield(exited), 0.5)
        except TimeoutError:
            self._kill(process)
            code = await exited
        status = exit_reason(code)
        return status if why is None else f"{why}; {status}"

    async def _watchdog(self, channel: Channel) -> str:
        expected = time.monotonic() + WATCHDOG_TICK
        while True:
            await asyncio.sleep(max(0.0, expected - time.monotonic()))
            now = time.monotonic()
            late = now - expected
            expected = now + WATCHDOG_TICK
            if late > WATCHDOG_LATE:
                # We were blocked ourselves: the child's heartbeats may be sitting unread.
                channel.last_received = now
                continue
            if now - channel.last_received > self.spec.heartbeat_timeout:
                assert self.current is not None
                self._kill(self.current.process)
                return f"no heartbeat for {self.spec.heartbeat_timeout:g} s (wedged)"

    @staticmethod
    def _kill(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                # SIGKILL works on a stopped process too (SIGTERM would wait for a SIGCONT).
                process.send_signal(signal.SIGKILL)

    async def stop(self, shutdown: Callable[[T], Awaitable[object]] | None = None) -> None:
        """Stop supervising, then end the process (`shutdown` first if given, else SIGKILL)."""
        self.state = "stopped"
        self._stopping = True
        self._ready.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        child = self.current
        if child is None:
            return
        if shutdown is not None:
            with contextlib.suppress(Exception):
                await shutdown(child)
        self._kill(child.process)
        with contextlib.suppress(Exception):
            await child.process.wait()
