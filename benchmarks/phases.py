"""The load's phases (`--phases quiet,public:1,archives:4,hls:2000`): what else the server does
while one more window is measured with the same subscribers, so that every ratio the issue asks
for (a phase against the quiet one) comes from one run.

- `quiet`: nothing else.
- `public:N`: the first N hearings of the load are public and put on air (`POST …/live/start`);
  the window starts once each one's live playlist lists a segment. They stay on air for the later
  phases (a court does not stop its public stream for the next one).
- `archives:N`: N more hearings (a judge and a party publishing) are recorded for
  `--archive-seconds` and ended, so that their composite archives build in the window (checked in
  `GET …/recordings/state`); a later phase starts once they are all built.
- `hls:R`: the public polling the on-air hearings' live playlists and fetching each new segment
  once, R requests/s in all (benchmarks/hls_load.py in processes of its own); needs a `public`
  phase before it.

The figures of every phase are those of the hearings never on air ("the other hearings"), and a
few subscribers join each phase's window to time join → first frame under its conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks import hls_load
from benchmarks.remote import RemoteServer

ON_AIR_TIMEOUT = 60.0  # beyond the broadcast delay: until the first segment is listed
BUILDING_TIMEOUT = 120.0  # from the end of the hearings until an archive is building
BUILT_TIMEOUT = 900.0  # until every archive is built, before a later phase
HLS_PROCESSES = 2
ARRIVAL = 2.0  # seconds: hls_load's viewers arrive within the first one


@dataclass(frozen=True)
class Phase:
    kind: str  # quiet | public | archives | hls
    amount: float = 0.0  # streams, archives, requests/s

    def __str__(self) -> str:
        return self.kind if self.kind == "quiet" else f"{self.kind}:{self.amount:g}"


def parse(text: str) -> tuple[Phase, ...]:
    """`quiet,public:1,archives:4,hls:2000` -> the phases, in order."""
    phases = []
    for item in (part.strip() for part in text.split(",")):
        kind, _, amount = item.partition(":")
        if kind == "quiet" and not amount:
            phases.append(Phase("quiet"))
            continue
        if kind not in ("public", "archives", "hls") or not amount:
            raise argparse.ArgumentTypeError(
                f"a phase is quiet, public:N, archives:N or hls:REQUESTS_PER_S, not {item!r}"
            )
        try:
            value = float(amount) if kind == "hls" else int(amount)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: {amount!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{item!r}: the number must be > 0")
        phases.append(Phase(kind, float(value)))
    kinds = [p.kind for p in phases]
    if "quiet" not in kinds:
        raise argparse.ArgumentTypeError("the phases need a quiet one: the ratios are against it")
    if "hls" in kinds and ("public" not in kinds or kinds.index("public") > kinds.index("hls")):
        raise argparse.ArgumentTypeError("hls:R needs a public:N phase before it (streams to poll)")
    return tuple(phases)


def _recorded(state: dict[str, Any]) -> float:
    return float(state.get("duration_seconds") or 0.0)


def public_needed(phases: tuple[Phase, ...]) -> int:
    """How many of the load's hearings must be public (the largest public:N)."""
    return max((int(p.amount) for p in phases if p.kind == "public"), default=0)


AddPublishers = Callable[[dict[str, str]], Awaitable[None]]  # peer id -> token; until ready
ClosePeers = Callable[[list[str]], Awaitable[None]]


@dataclass
class Conditions:
    """What the phases have put on the server so far."""

    server: RemoteServer
    public: list[str]  # the load's public hearings, in the order they go on air
    add_publishers: AddPublishers
    close_peers: ClosePeers
    archive_seconds: float
    base_url: str
    measured_seconds: float  # the settling before a window and the window
    on_air: list[str] = field(default_factory=list)
    archives: list[str] = field(default_factory=list)
    _hls: hls_load.ProcessLoad | None = None
    _numbered: int = 0

    async def enter(self, phase: Phase) -> dict[str, Any]:
        """Bring the server into the phase's conditions; what holds as its window starts."""
        if phase.kind == "public":
            await self._on_air(int(phase.amount))
        elif phase.kind == "archives":
            await self._build_archives(int(phase.amount))
        elif phase.kind == "hls":
            await self._start_hls(phase.amount)
        state: dict[str, Any] = {"on_air": len(self.on_air)}
        if self.archives:
            state["archives"] = await self._archive_states()
        return state

    async def leave(self, phase: Phase, more_follow: bool) -> dict[str, Any]:
        """After the window: what still held at its end, and the HLS load's own figures."""
        out: dict[str, Any] = {}
        if self.archives:
            out["archives_at_end"] = await self._archive_states()
        if phase.kind == "hls" and self._hls is not None:
            stats = await asyncio.to_thread(self._hls.results)
            self._hls = None
            report = hls_load.summary(stats)
            out["hls"] = {
                k: report[k]
                for k in (
                    "viewers",
                    "requests_per_s",
                    "requests_per_s_by_kind",
                    "errors",
                    "behind_live_ms",
                    "stalls",
                )
            }
            out["hls"]["generator_cpu_percent"] = round(
                100 * stats.cpu_seconds / (stats.seconds or 1.0), 1
            )
        if phase.kind == "archives" and more_follow:
            out["archives_built_after_s"] = await self._wait_built()
        return out

    # -- public streams --------------------------------------------------------------------------

    async def _on_air(self, count: int) -> None:
        for hearing in self.public[len(self.on_air) : count]:
            await self.server.live_start(hearing)
            self.on_air.append(hearing)
        deadline = time.monotonic() + ON_AIR_TIMEOUT + 15  # + a broadcast delay of up to 15 s
        for hearing in self.on_air:
            while not await self.server.live_segments(hearing):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hearing {hearing} on air lists no segment")
                await asyncio.sleep(0.5)

    async def _start_hls(self, rate: float) -> None:
        streams = [f"/live/{h}/index.m3u8" for h in self.on_air]
        target = await hls_load.target_duration(self.base_url, streams[0])
        viewers = hls_load.viewers_for_rate(rate, target)
        # The viewers' arrival (ARRIVAL), the settling and the window, and a margin.
        self._hls = hls_load.ProcessLoad(
            self.base_url,
            streams,
            viewers,
            ARRIVAL + self.measured_seconds + 3,
            processes=HLS_PROCESSES,
        )
        self._hls.start()
        await asyncio.to_thread(self._hls.wait_started)
        await asyncio.sleep(ARRIVAL)  # every viewer has arrived and polls

    # -- archives --------------------------------------------------------------------------------

    async def _build_archives(self, count: int) -> None:
        hearings = []
        tokens: dict[str, str] = {}
        for _ in range(count):
            self._numbered += 1
            hearing = await self.server.create_hearing(9000 + self._numbered)
            hearings.append(hearing)
            tokens[f"{hearing}-pub0"] = await self.server.token(hearing, "judge", "judge")
            tokens[f"{hearing}-pub1"] = await self.server.token(hearing, "party", "party")
        await self.add_publishers(tokens)
        deadline = time.monotonic() + self.archive_seconds + 60
        for hearing in hearings:
            while _recorded(await self.server.recording_state(hearing)) < self.archive_seconds:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hearing {hearing} is not recorded")
                await asyncio.sleep(0.5)
        for hearing in hearings:
            await self.server.end(hearing)
        await self.close_peers(list(tokens))
        self.archives.extend(hearings)
        deadline = time.monotonic() + BUILDING_TIMEOUT
        while "building" not in (await self._archive_states()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no archive building: {await self._archive_states()}")
            await asyncio.sleep(0.5)

    async def _archive_states(self) -> dict[str, int]:
        states: Counter[str] = Counter()
        for hearing in self.archives:
            states[(await self.server.recording_state(hearing))["archive"]["state"]] += 1
        return dict(states)

    async def _wait_built(self) -> float:
        started = time.monotonic()
        while {"pending", "building"} & set(await self._archive_states()):
            if time.monotonic() - started > BUILT_TIMEOUT:
                raise RuntimeError(f"archives not built: {await self._archive_states()}")
            await asyncio.sleep(1.0)
        return round(time.monotonic() - started, 1)
