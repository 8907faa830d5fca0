"""A whole load-test run: the setups (baseline, SFU with 1 and 2 workers, or a running server, or
servers this run starts itself), each ramped through its steps of subscribers, each step measured
over one window; on a server, then one more window per phase (benchmarks/phases.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import aiortc

from benchmarks import comparisons, metrics, phases
from benchmarks.cluster import Cluster, Snapshot
from benchmarks.media import encode_audio, encode_video
from benchmarks.profiling import profile_process
from benchmarks.remote import RemoteServer
from benchmarks.spawned import SpawnedServer

PUBLISH_TIMEOUT = 30.0
FLOWING_TIMEOUT = 20.0  # beyond the time the joins themselves take
JOIN_TIMEOUT = 15.0  # after a window, for the joiners' first frames


class RunError(RuntimeError):
    """The run could not be set up (peers did not connect); its message says which."""


@dataclass
class Scenario:
    hearings: int = 4
    publishers: int = 2  # per hearing; each also sends audio
    steps: tuple[int, ...] = (12, 25, 37, 50)  # subscribers per hearing after each step
    join_rate: float = 20.0  # peers joining per second
    settle: float = 2.0  # seconds between "everyone receives media" and a window
    window: float = 15.0  # seconds measured per step
    sampled: int = 8  # subscribers that decode their first frame (join → first frame)
    baseline_steps: tuple[int, ...] = (1, 2)  # MediaRelay subscribers (1 hearing) per step
    workers: tuple[int, ...] = (1, 2)  # SFU worker processes per setup (self-contained mode)
    generators: int = 2
    codec: str = "vp8"
    width: int = 640
    height: int = 480
    fps: int = 30
    bitrate: int = 1_000_000
    clip_seconds: float = 10.0
    measure_latency: bool = True
    profile_dir: str | None = None
    server_url: str | None = None
    admin_key: str | None = None
    server_pid: int | None = None
    spawn: tuple[str, ...] = ()  # `cloudcourt serve` arguments, one server each, in turn
    bare_worker: bool = False  # with a server: also the bare sfu_1_worker, the same load
    phases: tuple[str, ...] = ()  # with a server: one more window each (benchmarks/phases.py)
    archive_seconds: float = 60.0  # how long each archives:N hearing is recorded
    capacity_loss: float | None = None  # the largest step at or under this loss (a fraction)
    command: list[str] = field(default_factory=list)

    @property
    def served(self) -> bool:
        return bool(self.server_url or self.spawn)


@dataclass
class Setup:
    name: str
    hearings: list[str]
    publishers: int
    steps: tuple[int, ...]
    sampled: int
    tokens: dict[str, str] = field(default_factory=dict)


class Ramp:
    """Joins one setup's publishers, then its subscribers step by step, measuring each step."""

    def __init__(self, cluster: Cluster, scenario: Scenario, setup: Setup) -> None:
        self.cluster = cluster
        self.scenario = scenario
        self.setup = setup
        self._next_generator = itertools.cycle(range(len(cluster.generators)))
        self.subscribers: list[str] = []
        self.last: Snapshot | None = None
        self._after: Snapshot | None = None
        self._planned = len(setup.hearings) * setup.steps[-1]
        self._sample_every = max(1, self._planned // setup.sampled) if setup.sampled else 0

    async def _pace(self) -> None:
        await asyncio.sleep(1 / self.scenario.join_rate)

    async def publish(self) -> None:
        setup = self.setup
        await self.publish_peers(
            [f"{h}-pub{p}" for h in setup.hearings for p in range(setup.publishers)]
        )

    async def publish_peers(self, publishers: list[str]) -> None:
        """Join these publishers (`<hearing>-pub<n>`, tokens in the setup's) until ready."""
        cluster, setup = self.cluster, self.setup
        for peer_id in publishers:
            hearing = peer_id.rsplit("-", 1)[0]
            cluster.add_peer(
                "publisher",
                peer_id,
                hearing,
                next(self._next_generator),
                token=setup.tokens.get(peer_id),
            )
            await self._pace()
        expected_tracks = 0 if cluster.remote else 2 * len(publishers)
        done = await cluster.wait_until(
            lambda: all(p in cluster.ready or p in cluster.failed for p in publishers)
            and cluster.published >= expected_tracks,
            PUBLISH_TIMEOUT,
        )
        failed = {p: cluster.failed[p] for p in publishers if p in cluster.failed}
        if failed or not done:
            raise RunError(f"{setup.name}: publishers did not connect: {failed or 'timeout'}")
        await asyncio.sleep(1.0)  # the server makes a publication once DTLS is up on its side

    async def _join_subscribers(self, per_hearing: int) -> list[str]:
        joined: list[str] = []
        start = len(self.subscribers) // len(self.setup.hearings)
        for index in range(start, per_hearing):
            for hearing in self.setup.hearings:
                peer_id = f"{hearing}-sub{index}"
                number = len(self.subscribers) + len(joined)
                sampled = bool(self._sample_every) and number % self._sample_every == 0
                await self._join(peer_id, hearing, sampled)
                joined.append(peer_id)
        return joined

    async def _join(self, peer_id: str, hearing: str, sampled: bool) -> None:
        self.cluster.add_peer(
            "subscriber",
            peer_id,
            hearing,
            next(self._next_generator),
            sampled,
            token=self.setup.tokens.get(peer_id),
        )
        await self._pace()

    async def _join_sampled(self, joiners: list[str]) -> None:
        for peer_id in joiners:
            await self._join(peer_id, peer_id.rsplit("-", 1)[0], True)

    async def _wait_flowing(self, seconds: float) -> int:
        """Wait until every subscriber receives every track; returns how many do not."""
        tracks = 2 * self.setup.publishers
        deadline = time.monotonic() + seconds
        while True:
            snapshot = await self.cluster.snapshot(reset_latency=False)
            lagging = [
                s
                for s in self.subscribers
                if s not in self.cluster.failed
                and sum(
                    1
                    for stream in snapshot.subscribers.get(s, {}).get("streams", {}).values()
                    if stream[1] > 0
                )
                < tracks
            ]
            if not lagging or time.monotonic() > deadline:
                return len(lagging)
            await asyncio.sleep(0.5)

    async def step(self, per_hearing: int) -> dict[str, Any]:
        joined = await self._join_subscribers(per_hearing)
        self.subscribers.extend(joined)
        lagging = await self._wait_flowing(FLOWING_TIMEOUT + len(joined) / self.scenario.join_rate)
        figures = await self.measure(self.subscribers)
        figures["subscribers_not_flowing"] = lagging
        self.last = self._after
        return figures

    async def measure(self, measured: list[str], joiners: Sequence[str] = ()) -> dict[str, Any]:
        """One window over the `measured` subscribers; `joiners` (sampled subscribers, their
        tokens in the setup's) join as it starts, and their join → first frame is in the
        figures (`first_frame_s`; None for one that had none by the window's end)."""
        await asyncio.sleep(self.scenario.settle)
        before = await self.cluster.snapshot()
        joining = asyncio.ensure_future(self._join_sampled(list(joiners)))
        await asyncio.sleep(self.scenario.window)
        await joining
        after = self._after = await self.cluster.snapshot()
        figures = metrics.window(before, after, measured)
        figures["failed_peers"] = len(self.cluster.failed)
        figures["errors"] = sorted(set(after.errors))[:5]
        if joiners:
            figures["first_frame_s"] = await self._first_frames(after, joiners)
        return figures

    async def _first_frames(self, snapshot: Snapshot, joiners: Sequence[str]) -> list[float | None]:
        """The joiners' join → first frame; one still waiting at the window's end is waited
        for a while longer (a slow join is a figure too, not a missing one)."""
        deadline = time.monotonic() + JOIN_TIMEOUT
        while True:
            frames = [snapshot.subscribers.get(j, {}).get("first_frame_s") for j in joiners]
            if None not in frames or time.monotonic() > deadline:
                return frames
            await asyncio.sleep(0.5)
            snapshot = await self.cluster.snapshot(reset_latency=False)

    def first_frames(self) -> list[float | None]:
        if self.last is None:
            return []
        return [
            self.last.subscribers[s]["first_frame_s"]
            for s in self.subscribers
            if self.last.subscribers.get(s, {}).get("sampled")
        ]


AfterSteps = Callable[[Ramp], Awaitable[dict[str, Any]]]


async def _run_setup(
    cluster: Cluster,
    scenario: Scenario,
    setup: Setup,
    profile: bool = False,
    after_steps: AfterSteps | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    ramp = Ramp(cluster, scenario, setup)
    await ramp.publish()
    idle_rss = cluster.server_rss()
    steps = []
    for per_hearing in setup.steps:
        steps.append(await ramp.step(per_hearing))
    full_rss = cluster.server_rss()
    more = await after_steps(ramp) if after_steps is not None else {}
    result: dict[str, Any] = {
        "hearings": len(setup.hearings),
        "publishers_per_hearing": setup.publishers,
        "steps": steps,
        "first_frame_s": ramp.first_frames(),
        "server_processes": len(cluster.server_pids),
        "rss_mb_idle": round(idle_rss / 2**20, 1) if idle_rss else None,
        "rss_mb_full": round(full_rss / 2**20, 1) if full_rss else None,
        "rss_mb_per_subscriber": (
            round((full_rss - idle_rss) / 2**20 / len(ramp.subscribers), 3)
            if idle_rss and full_rss
            else None
        ),
    }
    if profile and scenario.profile_dir and cluster.server_pids:
        result["profile"] = await profile_process(
            cluster.server_pids[0], scenario.window, scenario.profile_dir, setup.name
        )
    return {**result, **more, "duration_s": round(time.monotonic() - started, 1)}


def _hearing_ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


async def _local_setups(cluster: Cluster, scenario: Scenario) -> dict[str, dict[str, Any]]:
    setups: dict[str, dict[str, Any]] = {}
    if scenario.baseline_steps:
        cluster.start_relay(scenario.codec, scenario.bitrate)
        setup = Setup("mediarelay", ["relay0"], scenario.publishers, scenario.baseline_steps, 0)
        cluster.hearing_server = {"relay0": 0}
        setups[setup.name] = await _run_setup(cluster, scenario, setup)
        await cluster.reset_generators()
        await cluster.stop_servers()
    for workers in scenario.workers:
        name = "sfu_1_worker" if workers == 1 else f"sfu_{workers}_workers"
        hearings = _hearing_ids(f"w{workers}h", scenario.hearings)
        cluster.start_sfu_workers(workers, scenario.measure_latency)
        cluster.hearing_server = {h: i % workers for i, h in enumerate(hearings)}
        # The 1-worker setup ramps (the CPU curve, latency at half load, first frames); the
        # others measure the full load only, for the scaling.
        ramped = workers == 1
        steps = scenario.steps if ramped else scenario.steps[-1:]
        setup = Setup(name, hearings, scenario.publishers, steps, scenario.sampled if ramped else 0)
        setups[name] = await _run_setup(cluster, scenario, setup, profile=ramped)
        await cluster.reset_generators()
        await cluster.stop_servers()
    return setups


def _joiners(plan: tuple[phases.Phase, ...], hearings: list[str], count: int) -> list[list[str]]:
    """Per phase, the sampled subscribers that join its window (spread over `hearings`)."""
    return [
        [f"{hearings[k % len(hearings)]}-j{n}x{k}" for k in range(count)] for n in range(len(plan))
    ]


async def _served_setup(
    cluster: Cluster, scenario: Scenario, server: RemoteServer, name: str
) -> dict[str, Any]:
    """The load on a running server: the steps, then a window per phase."""
    plan = phases.parse(",".join(scenario.phases)) if scenario.phases else ()
    public = phases.public_needed(plan)
    hearings = [await server.create_hearing(i, public=i < public) for i in range(scenario.hearings)]
    # The hearings never on air: what the phases measure (the "other hearings").
    others = hearings[public:]
    joiners = _joiners(plan, others, max(1, scenario.sampled))
    tokens = {}
    for hearing in hearings:
        for p in range(scenario.publishers):
            role = "judge" if p == 0 else "party"
            tokens[f"{hearing}-pub{p}"] = await server.token(hearing, role, f"pub{p}")
        for s in range(scenario.steps[-1]):
            tokens[f"{hearing}-sub{s}"] = await server.token(hearing, "party", f"sub{s}")
    for peer_id in (j for phase in joiners for j in phase):
        tokens[peer_id] = await server.token(peer_id.rsplit("-", 1)[0], "party", peer_id)
    health = await server.health()

    async def run_phases(ramp: Ramp) -> dict[str, Any]:
        async def add_publishers(more: dict[str, str]) -> None:
            ramp.setup.tokens.update(more)
            await ramp.publish_peers(list(more))

        conditions = phases.Conditions(
            server,
            hearings[:public],
            add_publishers,
            cluster.close_peers,
            scenario.archive_seconds,
            server.url,
            scenario.settle + scenario.window,
        )
        measured = [s for s in ramp.subscribers if s.rsplit("-", 1)[0] in others]
        windows = []
        for n, phase in enumerate(plan):
            started = time.monotonic()
            state = await conditions.enter(phase)
            figures = await ramp.measure(measured, joiners[n])
            await cluster.close_peers(joiners[n])
            figures.update(await conditions.leave(phase, more_follow=n + 1 < len(plan)))
            windows.append({"phase": str(phase), "conditions": state, **figures})
            windows[-1]["duration_s"] = round(time.monotonic() - started, 1)
        return {"phases": windows, "phase_hearings": len(others)}

    cluster.remote = server
    setup = Setup(name, hearings, scenario.publishers, scenario.steps, scenario.sampled)
    setup.tokens = tokens
    try:
        result = await _run_setup(
            cluster, scenario, setup, profile=True, after_steps=run_phases if plan else None
        )
        # "Recording on for every hearing": what the server says it recorded, before the end.
        states = [await server.recording_state(h) for h in hearings]
        result["recorded_hearings"] = sum(1 for r in states if r.get("tracks"))
        result["recorded_tracks"] = sum(r.get("tracks") or 0 for r in states)
        # A worker restarted by its supervisor (killed, or wedged past its heartbeat timeout on
        # a starved machine) resets its hearings' media; the generated peers do not renegotiate,
        # so every figure after it is void.
        _, workers = await server.counters()
        result["worker_restarts"] = round(
            sum(w.get("worker_restarts", 0) for w in workers.values())
        )
        if result["worker_restarts"]:
            print(
                f"benchmarks.sfu: {name}: {result['worker_restarts']} SFU worker restart(s) during"
                " the run: its hearings' media was reset, the figures after it are void",
                file=sys.stderr,
            )
    finally:
        cluster.remote = None
        await cluster.reset_generators()
        for hearing in hearings:
            # Cleanup: after a failure the server may have ended it already, or be gone.
            with contextlib.suppress(RuntimeError, aiohttp.ClientError):
                await server.end(hearing)
    result["served"] = True
    result["server_pid_found"] = server.pid is not None
    # Worker processes (`--sfu-workers N`); 0: the SFU inside the server's own process.
    result["sfu_workers"] = int((health.get("workers") or {}).get("total", 0))
    return result


def _setup_name(args: str, taken: dict[str, Any]) -> str:
    name = f"serve {args}".strip()
    number = 1
    while name in taken:
        number += 1
        name = f"serve {args} #{number}".replace("  ", " ")
    return name


async def _served_setups(cluster: Cluster, scenario: Scenario) -> dict[str, dict[str, Any]]:
    setups: dict[str, dict[str, Any]] = {}
    if scenario.server_url:
        assert scenario.admin_key
        async with RemoteServer(
            scenario.server_url, scenario.admin_key, scenario.server_pid
        ) as server:
            setups["server"] = await _served_setup(cluster, scenario, server, "server")
    for args in scenario.spawn:
        name = _setup_name(args, setups)
        spawned = SpawnedServer(args, scenario.profile_dir)
        await spawned.start()
        try:
            async with RemoteServer(spawned.url, spawned.admin_key, spawned.pid) as server:
                setups[name] = await _served_setup(cluster, scenario, server, name)
        finally:
            outlived = await spawned.stop()
        setups[name]["server_args"] = args
        setups[name]["children_outlived"] = outlived
        if outlived:
            print(f"benchmarks.sfu: {name}: outlived the server: {outlived}", file=sys.stderr)
    return setups


def _machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), "")
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


async def run(scenario: Scenario) -> dict[str, Any]:
    started = time.monotonic()
    video = encode_video(
        scenario.codec,
        scenario.width,
        scenario.height,
        scenario.fps,
        scenario.bitrate,
        scenario.clip_seconds,
    )
    audio = encode_audio(1.0)
    cluster = Cluster(scenario.generators, video, audio)
    setups: dict[str, dict[str, Any]] = {}
    try:
        if scenario.served:
            # The same load on the bare worker (and the baseline) first, in the same run.
            bare = (1,) if scenario.bare_worker else ()
            local = Scenario(**{**asdict(scenario), "workers": bare})
            if local.baseline_steps or local.workers:
                setups.update(await _local_setups(cluster, local))
            setups.update(await _served_setups(cluster, scenario))
        else:
            setups.update(await _local_setups(cluster, scenario))
    except TimeoutError:
        raise RunError("a benchmark process stopped answering (see the messages above)") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise RunError(f"cannot use the server {scenario.server_url or ''}: {exc}") from exc
    except RunError:
        raise
    except RuntimeError as exc:  # the server refused a request, or a phase never came about
        raise RunError(str(exc)) from exc
    finally:
        await cluster.close()
    return {
        **metrics.summarize(setups),
        "served": comparisons.compare(setups, scenario.capacity_loss),
        "scenario": {
            **{k: v for k, v in asdict(scenario).items() if k not in ("admin_key", "command")},
            "publisher_video_kbps": round(video.bitrate / 1000),
        },
        "command": " ".join(scenario.command),
        "machine": _machine(),
        "duration_s": round(time.monotonic() - started, 1),
        "setups": setups,
    }
