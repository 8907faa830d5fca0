"""First forwarding measurement: forwarded RTP packets per CPU-second of one SFU worker.

One SFU worker runs alone in a child process (so its CPU time is its own); one generator process
runs one publisher (VP8 640x480 at 1 Mbit/s + Opus, replayed from a clip encoded once) and N
subscribers that count packets without decoding. Loopback only. The figure is a ratio within one
run (packets / CPU-second), so a noisy shared machine moves it less than an absolute rate would.
This is the smallest case of the load generator (`python -m benchmarks.sfu`), kept for its
short command and stable output keys.

    python -m benchmarks.forwarding --subscribers 20 --duration 15 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from benchmarks.runner import Scenario
from benchmarks.runner import run as run_scenario


async def run(subscribers: int, duration: float) -> dict[str, Any]:
    scenario = Scenario(
        hearings=1,
        publishers=1,
        steps=(subscribers,),
        window=duration,
        settle=2.0,
        sampled=0,
        baseline_steps=(),
        workers=(1,),
        generators=1,
        clip_seconds=2.0,
        measure_latency=False,
    )
    result = await run_scenario(scenario)
    step = result["setups"]["sfu_1_worker"]["steps"][-1]
    return {
        "subscribers": subscribers,
        "duration_s": step["window_s"],
        **{
            key: step[key]
            for key in (
                "packets_in_per_s",
                "forwarded_packets_per_s",
                "received_packets_per_s",
                "server_cpu_percent",
                "forwarded_packets_per_cpu_second",
                "generator_cpu_percent",
                "decoders_created",
                "decoder_threads",
            )
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--json", help="write the result to this file")
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.duration <= 0:
        parser.error("--subscribers must be ≥ 1 and --duration > 0")
    result = asyncio.run(run(args.subscribers, args.duration))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
