"""A player-like load on public HLS streams: many viewers per process, each polling as hls.js does.

A viewer opens the portal and the catalog, loads a stream's master playlist (``index.m3u8``),
picks a variant, then reloads that media playlist once per target duration (half of one when it
had not changed, as hls.js does) and fetches each new segment once, in order, starting three
segments behind the live edge. After ``session`` seconds it starts over (a new viewer in its
place), so the portal and the catalog stay part of the mix.

Reported: requests/s (by kind), bytes/s, errors (by kind and status), request latency, and the
segment latency behind live: from the moment a segment was first listed in any playlist this
process read to the moment a viewer had it downloaded (with many viewers polling, "first listed"
is within one poll of its publication), for the segments listed after the viewer came. A viewer
that falls further behind than the playlist's window counts a stall.

    python -m benchmarks.hls_load --url http://127.0.0.1:8080 --viewers 200 --duration 30
    python -m benchmarks.hls_load --url http://127.0.0.1:8080 --rate 2000 --duration 30 \
        --processes 2 --json out.json

Without ``--hearing`` it watches every hearing the catalog lists as live, viewers spread evenly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp

from benchmarks.procstat import percentile, tree_cpu_seconds

START_BEHIND = 3  # segments behind the live edge a viewer starts at (hls.js liveSyncDurationCount)


@dataclass
class MediaPlaylist:
    target: float
    sequence: int  # the media sequence number of the first segment
    segments: list[str]  # uris, in order
    ended: bool


def parse_media(text: str) -> MediaPlaylist:
    """The few tags a player needs, without an HLS library (the generator must stay cheap)."""
    target, sequence, ended = 1.0, 0, False
    segments: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#EXT-X-TARGETDURATION:"):
                target = float(line.split(":", 1)[1])
            elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                sequence = int(line.split(":", 1)[1])
            elif line == "#EXT-X-ENDLIST":
                ended = True
        else:
            segments.append(line)
    return MediaPlaylist(target, sequence, segments, ended)


def parse_variants(text: str) -> list[str]:
    """The variant uris of a master playlist; [] for a media playlist."""
    lines = [line.strip() for line in text.splitlines()]
    return [
        lines[i + 1]
        for i, line in enumerate(lines[:-1])
        if line.startswith("#EXT-X-STREAM-INF:") and lines[i + 1]
    ]


def resolve(base_url: str, uri: str) -> str:
    return urljoin(base_url, uri)


@dataclass
class Stats:
    """What one process measured. Merged across processes by ``merge``."""

    requests: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # "kind status" or "kind ExcName"
    latency: dict[str, list[float]] = field(default_factory=dict)  # seconds, by kind
    behind: list[float] = field(default_factory=list)  # seconds, per segment fetched
    stalls: int = 0  # a viewer found its next segment already gone from the playlist
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    viewers: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "bytes": self.bytes,
            "errors": dict(self.errors),
            "latency": self.latency,
            "behind": self.behind,
            "stalls": self.stalls,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
            "viewers": self.viewers,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stats:
        return cls(
            Counter(data["requests"]),
            int(data["bytes"]),
            Counter(data["errors"]),
            {k: list(v) for k, v in data["latency"].items()},
            list(data["behind"]),
            int(data["stalls"]),
            float(data["seconds"]),
            float(data["cpu_seconds"]),
            int(data["viewers"]),
        )


def merge(parts: Sequence[Stats]) -> Stats:
    out = Stats()
    for p in parts:
        out.requests.update(p.requests)
        out.bytes += p.bytes
        out.errors.update(p.errors)
        for kind, values in p.latency.items():
            out.latency.setdefault(kind, []).extend(values)
        out.behind.extend(p.behind)
        out.stalls += p.stalls
        out.seconds = max(out.seconds, p.seconds)
        out.cpu_seconds += p.cpu_seconds
        out.viewers += p.viewers
    return out


def summary(stats: Stats) -> dict[str, Any]:
    """The report: rates over the measured seconds, percentiles in milliseconds."""
    seconds = stats.seconds or 1.0
    total = sum(stats.requests.values())

    def ms(values: list[float], q: float) -> float | None:
        v = percentile(values, q)
        return None if v is None else round(v * 1000, 1)

    return {
        "viewers": stats.viewers,
        "seconds": round(stats.seconds, 2),
        "requests": total,
        "requests_per_s": round(total / seconds, 1),
        "requests_per_s_by_kind": {
            k: round(n / seconds, 1) for k, n in sorted(stats.requests.items())
        },
        "bytes_per_s": round(stats.bytes / seconds),
        "errors": sum(stats.errors.values()),
        "errors_by_kind": dict(sorted(stats.errors.items())),
        "latency_ms": {
            k: {"p50": ms(v, 50), "p99": ms(v, 99)} for k, v in sorted(stats.latency.items())
        },
        "segments": len(stats.behind),
        "behind_live_ms": {
            "p50": ms(stats.behind, 50),
            "p99": ms(stats.behind, 99),
            "max": ms(stats.behind, 100),
        },
        "stalls": stats.stalls,
        "generator_cpu_seconds": round(stats.cpu_seconds, 2),
    }


class Load:
    """``viewers`` player-like viewers of ``streams`` (live master playlist URLs) in this loop."""

    def __init__(
        self,
        base_url: str,
        streams: Sequence[str],
        viewers: int,
        *,
        session: float = 60.0,
        portal: bool = True,
        seed: int = 0,
    ) -> None:
        if not streams:
            raise ValueError("no live stream to watch")
        self.base_url = base_url.rstrip("/")
        self.streams = list(streams)
        self.viewers = viewers
        self.session_seconds = session
        self.portal = portal
        self.stats = Stats(viewers=viewers)
        self._first_listed: dict[str, float] = {}  # segment URL -> first time any viewer saw it
        self._random = random.Random(seed)
        self._stop = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None

    async def _get(self, kind: str, url: str) -> tuple[int, bytes]:
        assert self._http is not None
        t0 = time.monotonic()
        try:
            async with self._http.get(url) as r:
                body = await r.read()
                status = r.status
        except (TimeoutError, aiohttp.ClientError) as e:
            self.stats.errors[f"{kind} {type(e).__name__}"] += 1
            return 0, b""
        self.stats.requests[kind] += 1
        self.stats.bytes += len(body)
        self.stats.latency.setdefault(kind, []).append(time.monotonic() - t0)
        if status != 200:
            self.stats.errors[f"{kind} {status}"] += 1
        return status, body

    async def _wait(self, seconds: float) -> bool:
        """Pace the player; False once the run is over."""
        try:
            await asyncio.wait_for(self._stop.wait(), max(0.0, seconds))
        except TimeoutError:
            return True
        return False

    async def _viewer(self, number: int) -> None:
        # Joins spread over the first second, as a crowd arrives, not in one burst.
        if not await self._wait(self._random.random()):
            return
        while not self._stop.is_set():
            await self._watch(number, time.monotonic() + self.session_seconds)

    async def _watch(self, number: int, until: float) -> None:
        if self.portal:
            await self._get("portal", f"{self.base_url}/portal/")
            await self._get("catalog", f"{self.base_url}/api/catalog")
        master_url = self.base_url + self.streams[number % len(self.streams)]
        status, body = await self._get("master", master_url)
        if status != 200:
            await self._wait(1.0)
            return
        variants = parse_variants(body.decode())
        # Viewers split over the renditions, as a mix of screens and networks would.
        media_url = (
            resolve(master_url, variants[(number // len(self.streams)) % len(variants)])
            if variants
            else master_url
        )
        next_sequence: int | None = None
        joined = time.monotonic()
        while time.monotonic() < until and not self._stop.is_set():
            polled = time.monotonic()
            status, body = await self._get("playlist", media_url)
            if status != 200:
                if not await self._wait(1.0):
                    return
                continue
            playlist = parse_media(body.decode())
            now = time.monotonic()
            for uri in playlist.segments:
                self._first_listed.setdefault(resolve(media_url, uri), now)
            last = playlist.sequence + len(playlist.segments)  # one past the newest
            if next_sequence is None:
                next_sequence = max(playlist.sequence, last - START_BEHIND)
            if next_sequence < playlist.sequence:
                self.stats.stalls += 1  # fell out of the window: jump to what is left
                next_sequence = playlist.sequence
            changed = next_sequence < last
            while next_sequence < last and not self._stop.is_set():
                url = resolve(media_url, playlist.segments[next_sequence - playlist.sequence])
                status, _ = await self._get("segment", url)
                # Behind live: only what was listed after this viewer came (not its start-up
                # segments, listed before it was there).
                if status == 200 and self._first_listed[url] >= joined:
                    self.stats.behind.append(time.monotonic() - self._first_listed[url])
                next_sequence += 1
            if playlist.ended:
                return
            # hls.js: reload after a target duration, or half of one if nothing was new.
            interval = playlist.target if changed else playlist.target / 2
            if not await self._wait(polled + interval - time.monotonic()):
                return

    async def run(self, duration: float) -> Stats:
        cpu0 = _cpu_seconds()
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            self._http = http
            t0 = time.monotonic()
            tasks = [asyncio.create_task(self._viewer(n)) for n in range(self.viewers)]
            await self._wait(duration)
            self._stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.stats.seconds = time.monotonic() - t0
        self.stats.cpu_seconds = _cpu_seconds() - cpu0
        return self.stats


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def live_streams(base_url: str) -> list[str]:
    """The master playlist paths of every hearing the public catalog lists as live."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(f"{base_url.rstrip('/')}/api/catalog", params={"status": "live"}) as r,
    ):
        data = await r.json()
    return [str(e["playlist_url"]) for e in data["items"] if e["status"] == "live"]


async def target_duration(base_url: str, stream: str) -> float:
    """The target duration of ``stream``'s first variant (to turn a request rate into viewers)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        url = base_url.rstrip("/") + stream
        async with http.get(url) as r:
            text = await r.text()
        variants = parse_variants(text)
        if variants:
            async with http.get(resolve(url, variants[0])) as r:
                text = await r.text()
    return parse_media(text).target


def viewers_for_rate(rate: float, target: float) -> int:
    """Viewers that make ``rate`` requests/s: each one a playlist and a segment per target."""
    return max(1, math.ceil(rate * target / 2))


def _process_main(args: dict[str, Any], queue: Any) -> None:
    load = Load(
        args["url"],
        args["streams"],
        args["viewers"],
        session=args["session"],
        portal=args["portal"],
        seed=args["seed"],
    )
    queue.put("started")
    stats = asyncio.run(load.run(args["duration"]))
    queue.put(stats.to_json())


class ProcessLoad:
    """The load in ``processes`` spawned processes (viewers split evenly); ``start()``, then
    ``results()`` (blocking: a caller with an event loop runs them in a thread)."""

    def __init__(
        self,
        url: str,
        streams: Sequence[str],
        viewers: int,
        duration: float,
        *,
        processes: int = 1,
        session: float = 60.0,
        portal: bool = True,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.duration = duration
        self._queue = context.Queue()
        shares = [
            viewers // processes + (1 if i < viewers % processes else 0) for i in range(processes)
        ]
        self._children = [
            context.Process(
                target=_process_main,
                args=(
                    {
                        "url": url,
                        "streams": list(streams),
                        "viewers": share,
                        "duration": duration,
                        "session": session,
                        "portal": portal,
                        "seed": i,
                    },
                    self._queue,
                ),
            )
            for i, share in enumerate(shares)
            if share
        ]
        self._parts: list[Stats] = []
        self._started = 0

    def start(self) -> None:
        for child in self._children:
            child.start()

    def _take(self, timeout: float) -> None:
        message = self._queue.get(timeout=timeout)
        if message == "started":
            self._started += 1
        else:
            self._parts.append(Stats.from_json(message))

    def wait_started(self, timeout: float = 60.0) -> None:
        """Until every process runs its viewers (a spawned interpreter takes a while)."""
        while self._started < len(self._children):
            self._take(timeout)

    def results(self) -> Stats:
        while len(self._parts) < len(self._children):
            self._take(self.duration + 60)
        for child in self._children:
            child.join()
        return merge(self._parts)


def run_processes(
    url: str,
    streams: Sequence[str],
    viewers: int,
    duration: float,
    *,
    processes: int = 1,
    session: float = 60.0,
    portal: bool = True,
) -> Stats:
    """The load in ``processes`` spawned processes (viewers split evenly), merged."""
    load = ProcessLoad(
        url, streams, viewers, duration, processes=processes, session=session, portal=portal
    )
    load.start()
    return load.results()


def _server_cores(pid: int, seconds: float) -> float:
    """The server's CPU (cores) over ``seconds`` of nothing but its own work."""
    before, t0 = tree_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return round((tree_cpu_seconds(pid) - before) / (time.monotonic() - t0), 3)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hls_load", description=__doc__)
    parser.add_argument("--url", required=True, help="nginx or the server, e.g. http://host:8080")
    parser.add_argument(
        "--hearing",
        action="append",
        default=[],
        help="a hearing id (repeatable); default: all live",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--viewers", type=int, help="concurrent viewers (default 100)")
    group.add_argument("--rate", type=float, help="requests/s in all, turned into viewers")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--session", type=float, default=60.0, help="seconds before a rejoin")
    parser.add_argument("--processes", type=int, default=1, help="generator processes")
    parser.add_argument("--no-portal", action="store_true", help="skip the portal and catalog")
    parser.add_argument(
        "--server-pid",
        type=int,
        help="also report this process's CPU (with its children: workers, sidecars) under load",
    )
    parser.add_argument(
        "--baseline",
        type=float,
        default=0.0,
        help="seconds of the server's CPU measured first without the load (needs --server-pid)",
    )
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args(argv)
    streams = [f"/live/{h}/index.m3u8" for h in args.hearing] or asyncio.run(live_streams(args.url))
    if not streams:
        print("no live hearing in the catalog; start one or pass --hearing", file=sys.stderr)
        return 2
    viewers = args.viewers or 100
    if args.rate:
        viewers = viewers_for_rate(args.rate, asyncio.run(target_duration(args.url, streams[0])))
    server: dict[str, float | None] = {}
    baseline = None
    if args.server_pid and args.baseline:
        baseline = server["baseline_cores"] = _server_cores(args.server_pid, args.baseline)
    before, t0 = (tree_cpu_seconds(args.server_pid) if args.server_pid else 0.0), time.monotonic()
    stats = run_processes(
        args.url,
        streams,
        viewers,
        args.duration,
        processes=max(1, args.processes),
        session=args.session,
        portal=not args.no_portal,
    )
    report = summary(stats)
    if args.server_pid:
        cores = (tree_cpu_seconds(args.server_pid) - before) / (time.monotonic() - t0)
        server["loaded_cores"] = round(cores, 3)
        if baseline is not None:
            extra = cores - baseline
            server["extra_cores"] = round(extra, 3)
            # What one core of the server carries of this load (None if within the noise).
            server["viewers_per_core"] = round(viewers / extra) if extra > 0.005 else None
        report["server"] = server
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": report, "streams": streams}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
