"""The control plane's side of one SFU worker process: spawn it, call it, hear its events.

`RemoteWorker.spawn(index, config)` starts ``python -m sfu.worker_process`` with its end of a
Unix socketpair (exec, never fork, of a threaded asyncio process), configures it and waits for
`ready`. The pool, placement and supervision are built on it in the control plane; this class
only knows the process and its channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from sfu import api
from sfu.channel import Args, Channel, ChannelClosed
from sfu.config import SfuConfig

log = logging.getLogger(__name__)

# Per-method reply timeouts (design17 §2). SDP requests wait for ICE gathering.
TIMEOUTS: dict[str, float] = {
    api.WORKER_CONFIGURE: 30.0,
    api.PEER_PUBLISHER_OFFER: 20.0,
    api.PEER_WHEP_OFFER: 20.0,
    api.PEER_SUBSCRIBER_ANSWER: 10.0,
    api.PEER_ICE_CANDIDATE: 5.0,
    api.PEER_PAUSE: 5.0,
    api.TAP_OPEN: 5.0,
    api.ROOM_CLOSE: 10.0,
    api.PEER_CLOSE: 10.0,
    api.WORKER_STATS: 2.0,
    api.WORKER_SHUTDOWN: 10.0,
}
DEFAULT_TIMEOUT = 10.0


def worker_argv(index: int, python: str = sys.executable) -> list[str]:
    """The command of worker `index`, without its `--channel-fd` (added at spawn)."""
    return [python, "-m", "sfu.worker_process", "--index", str(index)]


class RemoteWorker:
    def __init__(self, index: int, process: asyncio.subprocess.Process, channel: Channel) -> None:
        self.index = index
        self.process = process
        self.pid = process.pid
        self.channel = channel
        self.spawned_at = time.monotonic()
        self.ready_at: float | None = None
        self.lag_ms = 0.0  # of the last heartbeat
        self.load: Args | None = None  # the last `load` event
        self._ready: asyncio.Future[Args] = asyncio.get_running_loop().create_future()
        self._handlers: dict[str, list[Callable[[Args], None]]] = {}
        self._reader = asyncio.ensure_future(channel.run())
        for event in api.EVENTS:
            channel.on_event(event, self._dispatcher(event))

    @classmethod
    async def spawn(
        cls,
        index: int,
        config: SfuConfig,
        *,
        argv: Sequence[str] | None = None,
        ready_timeout: float = 30.0,
        **popen: Any,
    ) -> RemoteWorker:
        """Start worker `index`, configure it, and return once it said `ready`. `popen` goes
        to `create_subprocess_exec` (env, stderr...)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await asyncio.create_subprocess_exec(
                *(argv or worker_argv(index)),
                "--channel-fd",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                close_fds=True,  # later children must not inherit this channel
                **popen,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            # Without closing our copy of the child's end, its death would never read as EOF.
            theirs.close()
        channel = await Channel.from_socket(ours, f"sfu-worker-{index}")
        worker = cls(index, process, channel)
        try:
            await worker.request(
                api.WORKER_CONFIGURE,
                {"index": index, "config": config.to_wire()},
                timeout=ready_timeout,
            )
            async with asyncio.timeout(ready_timeout):
                await worker._ready
        except BaseException:
            worker.kill()
            await worker.wait()
            raise
        return worker

    # -- events -------------------------------------------------------------------------------

    def on(self, event: str, handler: Callable[[Args], None]) -> None:
        """Call `handler(args)` for each `event` (names in `sfu.api`)."""
        self._handlers.setdefault(event, []).append(handler)

    def _dispatcher(self, event: str) -> Callable[[Args], None]:
        def dispatch(args: Args) -> None:
            if event == api.EV_READY and not self._ready.done():
                self.ready_at = time.monotonic()
                self._ready.set_result(args)
            elif event == api.EV_HEARTBEAT:
                self.lag_ms = float(args.get("lag_ms", 0.0))
            elif event == api.EV_LOAD:
                self.load = args
            elif event == api.EV_ERROR:  # a failed notify: nobody else would hear of it
                log.warning(
                    "worker %d: %s failed: %s", self.index, args.get("method"), args.get("message")
                )
            for handler in self._handlers.get(event, ()):
                try:
                    handler(args)
                except Exception:
                    log.exception("worker %d: a handler of %s failed", self.index, event)

        return dispatch

    # -- calls --------------------------------------------------------------------------------

    async def request(self, method: str, args: Args, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (per-method timeouts are the contract)
        """Raises SfuError, ChannelClosed (the worker is gone) or TimeoutError."""
        return await self.channel.request(
            method, args, TIMEOUTS.get(method, DEFAULT_TIMEOUT) if timeout is None else timeout
        )

    def notify(self, method: str, args: Args) -> None:
        self.channel.notify(method, args)

    async def stats(self) -> dict[str, int]:
        result: dict[str, int] = await self.request(api.WORKER_STATS, {})
        return result

    @property
    def alive(self) -> bool:
        return not self.channel.closed.done() and self.process.returncode is None

    @property
    def spawn_to_ready(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.spawned_at

    # -- ending -------------------------------------------------------------------------------

    async def shutdown(self, grace: float = 10.0) -> int:
        """Ask the worker to close its rooms and exit; SIGKILL after `grace`. Its exit status."""
        with contextlib.suppress(ChannelClosed, TimeoutError):
            await self.request(api.WORKER_SHUTDOWN, {}, timeout=grace)
        try:
            async with asyncio.timeout(grace):
                return await self.wait()
        except TimeoutError:
            self.kill()
            return await self.wait()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    async def wait(self) -> int:
        """Wait for the process to exit (and the channel to end); its exit status."""
        code = await self.process.wait()
        with contextlib.suppress(Exception):
            await self._reader
        return code

    async def close(self) -> None:
        """Close the channel: the worker sees EOF and exits by itself."""
        await self.channel.close()
        with contextlib.suppress(Exception):
            await self._reader
