"""Glass-to-glass latency of the public live stream and the composite's CPU per hearing.

A real server (`cloudcourt serve --broadcast-delay 0` unless told otherwise) and, per hearing, a
judge and a party publishing over aiortc; each draws its frame counter as black/white cells
(tests/clients/media.py), paced from a known start, so the moment a frame was sent is known. The
benchmark polls the live playlist every 50 ms; when a segment appears it decodes it and reads the
judge's counter out of the judge's tile:

- latency = when the playlist listed the segment − when the publisher sent the first frame in
  it: the earliest a player could show that frame (a player adds its own buffer on top: hls.js
  starts 3 segments behind the live edge by default);
- CPU = the server process's CPU (/proc) over a window with the stream on, minus the same window
  with the same publishers and no stream: what the composite (taps, decode, layout, encode,
  segments) costs per hearing.

    unshare -n sh -c 'ip link set lo up; .venv/bin/python -m benchmarks.livestream'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.procstat import cpu_seconds
from tests.clients.hls import decode_segment, fetch, playlist, segment_url
from tests.clients.media import read_luma
from tests.e2e import Api, Cast, eventually
from tests.signaling_server import start_server

JUDGE, PARTY = 31, 32


def judge_counter(luma) -> int | None:
    """The judge's counter from the judge's tile (left two thirds, under the banner)."""
    from livestream.composite import BANNER

    height, width = luma.shape
    tile = luma[BANNER:height, : width * 2 // 3]
    # The 4:3 picture is letterboxed in the tile: read the centred 4:3 region.
    th, tw = tile.shape
    fw = min(tw, th * 4 // 3)
    fh = fw * 3 // 4
    x, y = (tw - fw) // 2, (th - fh) // 2
    reading = read_luma(tile[y + 2 : y + fh - 2, x + 2 : x + fw - 2])
    return reading.counter if reading and reading.sender == JUDGE else None


async def _cpu_over(pid: int, seconds: float) -> float:
    before, start = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - start)


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-livestream-") as data:
        server = start_server(Path(data), env={"CLOUDCOURT_BROADCAST_DELAY": str(args.delay)})
        api, cast = Api(server), Cast(server)
        try:
            hearings, judges = [], []
            for _ in range(args.hearings):
                hearing = await api.create_hearing(public=True)
                judge = await cast.join(hearing, "judge", JUDGE, fps=args.fps)
                await cast.join(hearing, "party", PARTY, admitted=True, fps=args.fps)
                hearings.append(hearing)
                judges.append(judge)
            for judge in judges:
                await eventually(
                    lambda j=judge: j.pub_pc.connectionState == "connected", 20, "publishing"
                )
            await asyncio.sleep(2)
            idle = await _cpu_over(server.pid, args.window)
            for hearing in hearings:
                status, body, _ = await api.request(
                    "POST", f"/api/hearings/{hearing['id']}/live/start"
                )
                assert status == 200, body
            url = api.abs(f"/live/{hearings[0]['id']}/index.m3u8")
            track = judges[0].video_track
            latencies: list[float] = []
            seen: set[str] = set()
            cpu_task = None
            deadline = time.monotonic() + args.warmup + args.window + 30
            while time.monotonic() < deadline:
                listing = await playlist(url)
                listed_at = time.monotonic()
                for uri, _ in listing.segments:
                    if uri in seen:
                        continue
                    seen.add(uri)
                    _, data_, _ = await fetch(segment_url(url, uri))
                    counters = [c for f in decode_segment(data_).video if (c := judge_counter(f))]
                    if counters and track is not None and track._start is not None:
                        sent = track._start + counters[0] / args.fps
                        latencies.append(listed_at - sent)
                if cpu_task is None and len(seen) >= args.warmup:
                    cpu_task = asyncio.create_task(_cpu_over(server.pid, args.window))
                if cpu_task is not None and cpu_task.done():
                    break
                await asyncio.sleep(0.05)
            assert cpu_task is not None and cpu_task.done(), "the stream did not run long enough"
            streaming = cpu_task.result()
        finally:
            await cast.close()
            server.stop()
    measured = latencies[args.warmup :] or latencies
    return {
        "hearings": args.hearings,
        "delay_seconds": args.delay,
        "segments_read": len(latencies),
        "latency_seconds": {
            "p50": round(statistics.median(measured), 3),
            "p95": round(sorted(measured)[int(0.95 * (len(measured) - 1))], 3),
            "min": round(min(measured), 3),
            "max": round(max(measured), 3),
        },
        "server_cpu_cores": {"publishers_only": round(idle, 3), "streaming": round(streaming, 3)},
        "composite_cpu_cores_per_hearing": round((streaming - idle) / args.hearings, 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.livestream", description=__doc__)
    p.add_argument("--hearings", type=int, default=1, help="hearings streamed at once")
    p.add_argument("--delay", type=float, default=0.0, help="broadcast delay, seconds")
    p.add_argument("--window", type=float, default=20.0, help="seconds of each CPU window")
    p.add_argument("--warmup", type=int, default=3, help="segments skipped before measuring")
    p.add_argument("--fps", type=int, default=15, help="publishers' frame rate")
    p.add_argument("--json", help="also write the result to this file")
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
