"""Load generator and capacity report for the SFU (issue 3).

H hearings x P publishers x S subscribers, joining at a given rate, measured step by step; the same
hearings through an aiortc MediaRelay relay as the baseline; the SFU with 1 and 2 worker processes.
Self-contained by default (it starts SFU worker processes itself); `--server URL --admin-key K`
loads a running `cloudcourt serve` instead (started with CLOUDCOURT_ICE_LOOPBACK=1 on this
machine), and `--spawn-server ARGS` (repeatable) starts `cloudcourt serve ARGS` itself, loads it,
stops it, and goes on with the next. With a server, `--bare-worker` adds the bare worker under
the same load and `--phases` one more window per phase (benchmarks/phases.py); the ratios
between them are in the report (benchmarks/comparisons.py). Loopback only: run it inside
`unshare -n sh -c 'ip link set lo up; ...'`.

    python -m benchmarks.sfu --quick --json out.json
    python -m benchmarks.sfu --out bench-out            # full run: sfu.json, report.md, plot.png
    python -m benchmarks.sfu --server http://127.0.0.1:8080 --admin-key K --hearings 2
    python -m benchmarks.sfu --spawn-server "--sfu-workers 2" --bare-worker --phases quiet,public:1

`main(argv)` is what `cloudcourt loadtest` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import phases
from benchmarks.runner import RunError, Scenario, run

QUICK = {
    "hearings": 2,
    "publishers": 1,
    "steps": (2, 4),
    "window": 3.0,
    "settle": 1.0,
    "sampled": 2,
    "baseline_steps": (2,),
    "clip_seconds": 2.0,
}


def _numbers(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers and commas, not {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("numbers must not be negative")
    return values


def _resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, not {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError("width and height must be even and at least 16")
    return width, height


# What a --quick run says instead of a verdict per target.
SMOKE_RUN = "not judged: --quick is a smoke run, too small a load to mean anything"


def parser(prog: str = "python -m benchmarks.sfu") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Load generator and capacity report: SFU vs MediaRelay, 1 vs 2 workers.",
    )
    load = p.add_argument_group("load")
    load.add_argument("--hearings", type=int, help="hearings (default 4)")
    load.add_argument("--publishers", type=int, help="publishers per hearing (default 2)")
    load.add_argument(
        "--subscribers", type=int, help="subscribers per hearing at full load (default 50)"
    )
    load.add_argument("--steps", type=int, default=4, help="ramp steps up to full (default 4)")
    load.add_argument("--join-rate", type=float, help="peers joining per second (default 20)")
    load.add_argument("--duration", type=float, help="seconds measured per step (default 15)")
    load.add_argument("--settle", type=float, help="seconds before each window (default 2)")
    load.add_argument("--codec", choices=("vp8", "h264"), help="video codec (default vp8)")
    load.add_argument("--resolution", type=_resolution, help="WIDTHxHEIGHT (default 640x480)")
    load.add_argument("--fps", type=int, help="frames per second (default 30)")
    load.add_argument("--bitrate", type=int, help="video kbit/s per publisher (default 1000)")
    load.add_argument("--sampled", type=int, help="subscribers timing join→first frame (8)")
    run_group = p.add_argument_group("run")
    run_group.add_argument("--generators", type=int, help="generator processes (default 2)")
    run_group.add_argument(
        "--workers", type=_numbers, help="SFU worker counts to compare (default 1,2)"
    )
    run_group.add_argument(
        "--baseline-subscribers",
        type=_numbers,
        help="MediaRelay subscribers per step, 1 hearing (default 1,2; 0 = no baseline)",
    )
    run_group.add_argument("--no-latency-probe", action="store_true", help="no probe in workers")
    run_group.add_argument("--quick", action="store_true", help="a smoke run within 60 s")
    remote = p.add_argument_group("a running server instead of self-started workers")
    remote.add_argument("--server", metavar="URL", help="e.g. http://127.0.0.1:8080")
    remote.add_argument("--admin-key", help="the server's admin key (CLOUDCOURT_ADMIN_KEY)")
    remote.add_argument("--server-pid", type=int, help="its process (found by port if local)")
    remote.add_argument(
        "--spawn-server",
        metavar="ARGS",
        action="append",
        default=[],
        help="start `cloudcourt serve ARGS` (fresh data dir, free port, loopback ICE), load it,"
        ' stop it; repeatable, in turn (e.g. --spawn-server "--sfu-workers 1"'
        ' --spawn-server "--sfu-workers 2")',
    )
    remote.add_argument(
        "--bare-worker",
        action="store_true",
        help="with a server: also the bare SFU worker process under the same load (sfu_1_worker)",
    )
    remote.add_argument(
        "--phases",
        type=phases.parse,
        help="with a server: after the steps, one window per phase at full load, e.g."
        " quiet,public:1,archives:4,hls:2000 (see benchmarks/README.md)",
    )
    remote.add_argument(
        "--archive-seconds",
        type=float,
        help="seconds each archives:N hearing is recorded before it ends (default 60)",
    )
    remote.add_argument(
        "--capacity-loss",
        type=float,
        metavar="FRACTION",
        help="report each setup's largest step at or under this loss (e.g. 0.01 = 1 %%)",
    )
    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write the JSON report here")
    out.add_argument("--report", metavar="PATH", help="write the Markdown report here")
    out.add_argument("--plot", metavar="PATH", help="write the PNG plot here")
    out.add_argument(
        "--out", metavar="DIR", help="write sfu.json, report.md, plot.png and a profile here"
    )
    return p


def scenario_from(args: argparse.Namespace, argv: Sequence[str]) -> Scenario:
    values: dict[str, Any] = dict(QUICK) if args.quick else {}
    for option, key in (
        ("hearings", "hearings"),
        ("publishers", "publishers"),
        ("join_rate", "join_rate"),
        ("duration", "window"),
        ("settle", "settle"),
        ("codec", "codec"),
        ("fps", "fps"),
        ("sampled", "sampled"),
        ("generators", "generators"),
        ("workers", "workers"),
        ("baseline_subscribers", "baseline_steps"),
        ("server_pid", "server_pid"),
        ("admin_key", "admin_key"),
        ("archive_seconds", "archive_seconds"),
        ("capacity_loss", "capacity_loss"),
    ):
        if getattr(args, option) is not None:
            values[key] = getattr(args, option)
    if args.subscribers is not None:
        full = args.subscribers
        values["steps"] = tuple(
            sorted({max(1, round(full * (i + 1) / args.steps)) for i in range(args.steps)})
        )
    if args.resolution:
        values["width"], values["height"] = args.resolution
    if args.bitrate:
        values["bitrate"] = args.bitrate * 1000
    if args.server:
        values["server_url"] = args.server
    if "baseline_steps" in values:
        values["baseline_steps"] = tuple(v for v in values["baseline_steps"] if v)
    values["measure_latency"] = not args.no_latency_probe
    values["spawn"] = tuple(args.spawn_server)
    values["bare_worker"] = args.bare_worker
    values["phases"] = tuple(str(phase) for phase in args.phases or ())
    if args.out:
        values["profile_dir"] = args.out
    return Scenario(**values, command=["python -m benchmarks.sfu", *argv])


def _check(p: argparse.ArgumentParser, args: argparse.Namespace, s: Scenario) -> None:
    given = (args.hearings, args.publishers, args.subscribers)
    if any(v is not None and v < 1 for v in given) or not s.steps or min(s.steps) < 1:
        p.error("--hearings, --publishers and --subscribers must be ≥ 1")
    if s.window <= 0 or s.join_rate <= 0 or s.generators < 1 or args.steps < 1:
        p.error("--duration, --join-rate, --generators and --steps must be > 0")
    if any(w not in (1, 2, 3, 4) for w in s.workers) or (not s.workers and not s.served):
        p.error("--workers takes worker counts from 1 to 4")
    if bool(args.server) != bool(args.admin_key):
        p.error("--server and --admin-key go together")
    if 2 in s.workers and 1 not in s.workers:
        p.error("--workers 2 needs 1 too: the scaling compares with one worker")
    if args.server and args.spawn_server:
        p.error("--server or --spawn-server: one server under test or servers started here")
    if (args.bare_worker or args.phases) and not s.served:
        p.error("--bare-worker and --phases need a server (--server or --spawn-server)")
    public = phases.public_needed(args.phases or ())
    if public and public >= s.hearings:
        p.error("public:N needs N < --hearings: the phases measure the hearings never on air")
    if s.archive_seconds <= 0:
        p.error("--archive-seconds must be > 0")
    if s.capacity_loss is not None and not 0 <= s.capacity_loss < 1:
        p.error("--capacity-loss is a fraction from 0 to 1 (0.01 = 1 %)")


def _plotter() -> Callable[[dict[str, Any]], bytes] | None:
    """The plot's drawing function, or None without the optional `bench` extra."""
    try:
        from benchmarks.plot import capacity_png
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "matplotlib":
            raise
        return None
    return capacity_png


def write_outputs(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Write JSON, Markdown and PNG where asked; returns the paths written."""
    out = Path(args.out) if args.out else None
    targets = {
        "json": args.json or (out / "sfu.json" if out else None),
        "report": args.report or (out / "report.md" if out else None),
        "plot": args.plot or (out / "plot.png" if out else None),
    }
    capacity_png = _plotter()
    if targets["plot"] is not None and capacity_png is None:
        print(
            "no plot: matplotlib is not installed (install cloudcourt[bench] for the plot)",
            file=sys.stderr,
        )
        targets["plot"] = None
    written = []
    for kind, path in targets.items():
        if path is None:
            continue
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "json":
            path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        elif kind == "report":
            from benchmarks.report import markdown

            path.write_text(markdown(result, plot_path=targets["plot"]))
        elif capacity_png is not None:
            path.write_bytes(capacity_png(result))
        written.append(str(path))
    return written


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmarks.sfu") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser(prog)
    args = p.parse_args(argv)
    scenario = scenario_from(args, argv)
    _check(p, args, scenario)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = asyncio.run(run(scenario))
    except RunError as exc:
        print(f"benchmarks.sfu: {exc}", file=sys.stderr)
        return 1
    if args.quick:
        # A verdict on a load this small would read as a capacity finding; it is none.
        for verdict in result["targets"]:
            verdict.pop("met", None)
            verdict.pop("margin_percent", None)
            verdict["verdict"] = SMOKE_RUN
    written = write_outputs(result, args)
    summary = {k: v for k, v in result.items() if k not in ("setups", "scenario", "machine")}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
