"""The coordinator's view of a run's processes: generators, servers, and the messages between them.

Generator processes hold the peers. In the self-contained mode the servers are child processes
too (SFU workers or the MediaRelay baseline) and the coordinator relays signaling between them:
a peer's messages go to the process holding its hearing, the server's replies to the generator
holding the peer. Against a running `cloudcourt serve` the peers talk to it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks import generator, relay_server, sfu_server
from benchmarks.channel import Channel
from benchmarks.media import Clip
from benchmarks.procstat import (
    machine_busy_seconds,
    own_cpu_seconds,
    rss_bytes,
    tree_cpu_seconds,
    tree_cpu_times,
    tree_rss_bytes,
)
from benchmarks.remote import RemoteServer

REPLY_TIMEOUT = 30.0


class Child:
    """A process this run started (spawn), with a Channel to it."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.process.start()
        child.close()
        self.channel = Channel(parent)

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def join(self, grace: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.process.join, grace)
        if self.process.is_alive():  # our own child, ended by its handle
            self.process.terminate()
            await loop.run_in_executor(None, self.process.join, 5.0)
        self.channel.close()


@dataclass
class Snapshot:
    """Everything read at one instant of a run."""

    time: float
    server_cpu: list[float]  # CPU-seconds per server process (or the remote server's tree)
    server_sys: list[float]  # of which in the kernel (system time)
    counters: list[dict[str, int]]  # per server: the SFU's forwarding counters
    probes: list[dict[str, dict[int, int]] | None]  # per server: latency samples since last
    generator_cpu: list[float]  # per generator process, then the coordinator itself
    machine_busy: float  # CPU-seconds of the whole machine (every process, the kernel)
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: list[dict[int, int]] = field(default_factory=list)  # per generator: end to end
    keyframe_requests: int = 0
    errors: list[str] = field(default_factory=list)
    # A running server's worker processes by their `worker` label: packets out, CPU, restarts.
    workers: dict[str, dict[str, float]] = field(default_factory=dict)


class Cluster:
    def __init__(self, generators: int, video: Clip, audio: Clip) -> None:
        self.generators = [
            Child(generator.main, (i, video, audio), f"bench-generator-{i}")
            for i in range(generators)
        ]
        self.servers: list[Child] = []
        self.remote: RemoteServer | None = None
        self.peer_generator: dict[str, int] = {}
        self.hearing_server: dict[str, int] = {}
        self.ready: set[str] = set()
        self.failed: dict[str, str] = {}
        self.closed: dict[str, str] = {}
        self.published = 0
        self._waiters: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self._changed = asyncio.Event()
        self._pumps = [
            asyncio.ensure_future(self._pump(g.channel, self._from_generator))
            for g in self.generators
        ]
        self._tag = 0
        self._remote_workers: dict[str, dict[str, float]] = {}

    # -- servers ---------------------------------------------------------------------------------

    def start_sfu_workers(self, count: int, measure_latency: bool) -> None:
        self._start_servers(
            [
                Child(sfu_server.main, (measure_latency,), f"bench-sfu-worker-{i}")
                for i in range(count)
            ]
        )

    def start_relay(self, codec: str, bitrate: int) -> None:
        self._start_servers([Child(relay_server.main, (codec, bitrate), "bench-mediarelay")])

    def _start_servers(self, servers: list[Child]) -> None:
        self.servers = servers
        self.published = 0
        for index, server in enumerate(servers):
            self._pumps.append(
                asyncio.ensure_future(
                    self._pump(server.channel, functools.partial(self._from_server, index))
                )
            )

    async def stop_servers(self) -> None:
        for index, server in enumerate(self.servers):
            with contextlib.suppress(TimeoutError):
                await self._request(("server_stopped", index), server.channel, ("stop",))
            await server.join()
        self.servers = []
        self.hearing_server.clear()

    @property
    def server_pids(self) -> list[int]:
        if self.remote is not None:
            return [self.remote.pid] if self.remote.pid else []
        return [s.pid for s in self.servers]

    def server_rss(self) -> int | None:
        if self.remote is not None:
            return tree_rss_bytes(self.remote.pid) if self.remote.pid else None
        return sum(rss_bytes(s.pid) for s in self.servers)

    # -- messages --------------------------------------------------------------------------------

    async def _pump(self, channel: Channel, handle: Callable[[Any], None]) -> None:
        while (message := await channel.recv()) is not None:
            handle(message)
            self._changed.set()

    def _resolve(self, key: tuple[Any, ...], value: Any) -> None:
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    def _from_generator(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "signal":  # a peer's message for the server process holding its hearing
            signal = message[1]
            self.servers[self.hearing_server[signal[1]]].channel.send(signal)
        elif kind == "publisher_ready":
            self.ready.add(message[1])
        elif kind == "failed":
            self.failed[message[1]] = message[2]
        elif kind == "snapshot":
            self._resolve(("snapshot", message[1], message[2]), message[3])
        elif kind == "closed_peers":
            self._resolve(("closed_peers", message[1], message[2]), True)
        elif kind in ("reset_done", "stopped"):
            self._resolve((kind, message[1]), True)

    def _from_server(self, index: int, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind in ("answer", "offer", "error"):
            if kind == "error":
                self.failed[message[1]] = message[2]
            generator_index = self.peer_generator.get(message[1])
            if generator_index is not None:
                self.generators[generator_index].channel.send(message)
        elif kind == "published":
            self.published += 1
        elif kind == "closed":
            self.closed[message[1]] = message[2]
        elif kind == "stats":
            self._resolve(("stats", index, message[1]), (message[2], message[3]))
        elif kind == "stopped":
            self._resolve(("server_stopped", index), True)

    async def _request(
        self, key: tuple[Any, ...], channel: Channel, message: tuple[Any, ...]
    ) -> Any:
        waiter = self._waiters[key] = asyncio.get_running_loop().create_future()
        channel.send(message)
        return await asyncio.wait_for(waiter, REPLY_TIMEOUT)

    async def wait_until(self, condition: Callable[[], bool], seconds: float) -> bool:
        """Wait until `condition()` holds (re-checked on every message); False after `seconds`."""
        deadline = time.monotonic() + seconds
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
        return True

    # -- peers -----------------------------------------------------------------------------------

    def add_peer(
        self,
        command: str,
        peer_id: str,
        hearing: str,
        generator_index: int,
        *extra: Any,
        token: str | None = None,
    ) -> None:
        self.peer_generator[peer_id] = generator_index
        url = self.remote.url if self.remote is not None else None
        self.generators[generator_index].channel.send(
            (command, peer_id, hearing, *extra, token, url)
        )

    async def close_peers(self, peer_ids: list[str]) -> None:
        """Close these peers (and their signaling) wherever they are; the others keep going."""
        by_generator: dict[int, list[str]] = {}
        for peer_id in peer_ids:
            index = self.peer_generator.pop(peer_id, None)
            if index is not None:
                by_generator.setdefault(index, []).append(peer_id)
            self.ready.discard(peer_id)
        self._tag += 1
        await asyncio.gather(
            *(
                self._request(
                    ("closed_peers", i, self._tag),
                    self.generators[i].channel,
                    ("close", self._tag, ids),
                )
                for i, ids in by_generator.items()
            )
        )

    async def reset_generators(self) -> None:
        await asyncio.gather(
            *(
                self._request(("reset_done", i), g.channel, ("reset",))
                for i, g in enumerate(self.generators)
            )
        )
        self.peer_generator.clear()
        self.ready.clear()
        self.failed.clear()
        self.closed.clear()

    # -- measuring -------------------------------------------------------------------------------

    async def _server_stats(self, tag: int) -> list[tuple[dict[str, int], Any]]:
        if self.remote is not None:
            counters, self._remote_workers = await self.remote.counters()
            return [(counters, None)]
        return list(
            await asyncio.gather(
                *(
                    self._request(("stats", i, tag), s.channel, ("stats", tag))
                    for i, s in enumerate(self.servers)
                )
            )
        )

    async def snapshot(self, reset_latency: bool = True) -> Snapshot:
        self._tag += 1
        tag = self._tag
        generators = asyncio.gather(
            *(
                self._request(("snapshot", i, tag), g.channel, ("snapshot", tag, reset_latency))
                for i, g in enumerate(self.generators)
            )
        )
        stats, parts = await asyncio.gather(self._server_stats(tag), generators)
        times = [tree_cpu_times(pid) for pid in self.server_pids]
        snapshot = Snapshot(
            time=time.monotonic(),
            server_cpu=[user + system for user, system in times],
            server_sys=[system for _, system in times],
            counters=[s[0] for s in stats],
            probes=[s[1] for s in stats],
            generator_cpu=[tree_cpu_seconds(g.pid) for g in self.generators] + [own_cpu_seconds()],
            machine_busy=machine_busy_seconds(),
            workers=self._remote_workers if self.remote is not None else {},
        )
        for part in parts:
            snapshot.subscribers.update(part["subscribers"])
            snapshot.latency.append(part["latency"])
            snapshot.keyframe_requests += part["keyframe_requests"]
            snapshot.errors.extend(part["errors"])
        return snapshot

    async def close(self) -> None:
        await self.stop_servers()
        for index, g in enumerate(self.generators):
            with contextlib.suppress(TimeoutError):
                await self._request(("stopped", index), g.channel, ("stop",))
            await g.join()
        for pump in self._pumps:
            pump.cancel()
