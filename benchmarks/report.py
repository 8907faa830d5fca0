"""The Markdown report of a run: headline figures against the targets, every step, the profile."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

HEADLINE = (
    ("forwarded_packets_per_cpu_second", "forwarded packets per server CPU-second (1 worker)"),
    ("subscribers_per_core", "subscribers per core, SFU"),
    ("baseline_subscribers_per_core", "subscribers per core, MediaRelay baseline"),
    ("ratio_vs_baseline", "ratio SFU / baseline"),
    ("added_latency_ms_p50", "SFU-added latency p50 at half load (ms)"),
    ("added_latency_ms_p99", "SFU-added latency p99 at half load (ms)"),
    ("added_latency_in_process_ms_p99", "… of which inside the process, p99 (ms)"),
    ("end_to_end_latency_ms_p99", "publisher → subscriber through the SFU, p99 (ms)"),
    ("join_to_first_frame_ms_p50", "join → first decoded frame p50 (ms)"),
    ("join_to_first_frame_ms_p95", "join → first decoded frame p95 (ms)"),
    ("worker_scaling", "2 workers vs 1 (capacity)"),
    ("delivered_fps_min", "delivered frames/s per subscriber, min (full load)"),
    ("delivered_fps_median", "delivered frames/s per subscriber, median (full load)"),
    ("loss_percent", "loss at subscribers (full load, %)"),
    ("server_rss_mb_per_subscriber", "server memory per subscriber (MiB)"),
    ("generator_cpu_percent", "generator CPU, all its processes (% of a core)"),
)

STEP_COLUMNS = (
    ("subscribers", "subs"),
    ("server_cpu_percent", "server CPU %"),
    ("server_system_cpu_percent", "of which kernel %"),
    ("forwarded_packets_per_s", "fwd pkt/s"),
    ("forwarded_packets_per_cpu_second", "pkt per CPU-s"),
    ("subscribers_per_core", "subs/core"),
    ("delivered_fps_min", "fps min"),
    ("delivered_fps_median", "fps median"),
    ("loss_percent", "loss %"),
    ("latency.in_process", "in-process p50/p99 ms"),
    ("latency.from_wire", "from wire p50/p99 ms"),
    ("latency.end_to_end", "end to end p50/p99 ms"),
    ("generator_cpu_percent", "generator CPU %"),
    ("other_cpu_percent", "other CPU %"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _cell(step: dict[str, Any], key: str) -> str:
    if key.startswith("latency."):
        latency = step["latency_ms"][key.split(".", 1)[1]]
        return f"{_fmt(latency['p50'])} / {_fmt(latency['p99'])}" if latency["samples"] else "—"
    return _fmt(step.get(key))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _targets(result: dict[str, Any]) -> list[str]:
    rows = []
    for verdict in result["targets"]:
        if verdict["value"] is None:
            rows.append([verdict["key"], verdict["target"], "not measured", "—"])
            continue
        if "verdict" in verdict:  # a smoke run: no verdict
            rows.append(
                [verdict["key"], verdict["target"], _fmt(verdict["value"]), verdict["verdict"]]
            )
            continue
        state = "met" if verdict["met"] else "**missed**"
        how = f"{verdict['margin_percent']:+.1f} % of the target"
        rows.append([verdict["key"], verdict["target"], _fmt(verdict["value"]), f"{state} ({how})"])
    return _table(["figure", "target", "measured", "verdict"], rows)


def _profile(profile: dict[str, Any] | None) -> list[str]:
    if not profile:
        return ["No profile (run with `--out DIR` and py-spy installed)."]
    if "error" in profile:
        return [profile["error"]]
    lines = [
        f"py-spy, {profile['samples']} samples of the worker at full load: own time per"
        " function; time in C (syscalls, SRTP) counts for the Python function that called it."
        f" Stacks (py-spy raw format): `{Path(profile['file']).name}`, written beside the report.",
        "",
    ]
    rows = [[f"`{name}`", f"{share} %"] for name, share in profile["self_percent"]]
    return lines + _table(["function", "share of samples"], rows)


def _setup_section(name: str, setup: dict[str, Any]) -> list[str]:
    lines = [
        f"### {name}",
        "",
        f"{setup['hearings']} hearing(s) × {setup['publishers_per_hearing']} publisher(s),"
        f" {setup['server_processes']} server process(es); server RSS"
        f" {_fmt(setup.get('rss_mb_idle'))} MiB with the publishers only,"
        f" {_fmt(setup.get('rss_mb_full'))} MiB at full load.",
        "",
    ]
    if setup.get("served"):
        lines[-1:] = [
            f"`{name}`: {setup['sfu_workers']} SFU worker"
            f" process(es) (0: inside the server); {setup['recorded_hearings']} of"
            f" {setup['hearings']} hearings recorded ({setup['recorded_tracks']} tracks);"
            f" worker restarts: {setup['worker_restarts']}"
            + (
                " (**its hearings' media was reset: the figures after it are void**)"
                if setup["worker_restarts"]
                else ""
            )
            + ";"
            f" outlived the server: {setup.get('children_outlived') or 'nothing'}.",
            "",
        ]
    rows = [[_cell(step, key) for key, _ in STEP_COLUMNS] for step in setup["steps"]]
    lines += _table([title for _, title in STEP_COLUMNS], rows)
    problems = [
        f"step {n + 1}: {step['subscribers_not_flowing']} subscriber(s) never received every"
        f" track, {step['failed_peers']} peer(s) failed {step['errors']}"
        for n, step in enumerate(setup["steps"])
        if step["subscribers_not_flowing"] or step["failed_peers"]
    ]
    return [*lines, "", *problems]


def _ok(met: bool | None) -> str:
    return "—" if met is None else ("met" if met else "**missed**")


def _said(conditions: dict[str, Any]) -> str:
    parts = [f"{conditions['on_air']} stream(s) on air"]
    if "archives" in conditions:
        parts.append(f"archives {conditions['archives']} at the start")
    if "archives_at_end" in conditions:
        parts.append(f"{conditions['archives_at_end']} at the end")
    if "hls" in conditions:
        hls = conditions["hls"]
        parts.append(
            f"{hls['viewers']} HLS viewers, {_fmt(hls['requests_per_s'])} requests/s,"
            f" {hls['errors']} errors, {hls['stalls']} stalls,"
            f" their generator {_fmt(hls['generator_cpu_percent'])} % of a core"
        )
    return "; ".join(parts)


def _served(served: dict[str, Any]) -> list[str]:
    """The issue-17 ratios: served vs bare, N workers vs 1, each phase vs quiet."""
    lines: list[str] = []
    if served.get("served_vs_bare"):
        rows = [
            [
                f"`{name}`",
                _fmt(c["subscribers"]),
                _fmt(c["served_forwarded_packets_per_cpu_second"]),
                _fmt(c["bare_forwarded_packets_per_cpu_second"]),
                _fmt(c["ratio"]),
                f"{c['target']}: {_ok(c['met'])}",
            ]
            for name, c in served["served_vs_bare"].items()
        ]
        header = ["served", "subs", "pkt per server CPU-s", "bare worker", "ratio", "target"]
        lines += ["### Served path vs the bare worker (full load)", "", *_table(header, rows), ""]
    if served.get("workers"):
        rows = []
        for name, c in served["workers"].items():
            scaling = c["per_worker_scaling"]
            capacity = c.get("capacity_ratio")
            rows.append(
                [
                    f"`{name}`",
                    _fmt(c["workers"]),
                    _fmt(c.get("subscribers_at_loss_limit")),
                    _fmt(c.get("one_worker_subscribers_at_loss_limit")),
                    _fmt(capacity)
                    + ("" if c.get("limits_found", True) else " (a limit not reached: a bound)"),
                    _fmt(c["forwarded_packets_per_worker_cpu_second"]),
                    _fmt(c["one_worker_same_load_forwarded_packets_per_worker_cpu_second"]),
                    _fmt(scaling),
                    c["target"],
                ]
            )
        header = [
            "served",
            "workers",
            "subs at loss limit",
            "1 worker",
            "capacity ratio",
            "pkt per worker-CPU-s",
            "1 worker, same load per worker",
            "per-worker scaling",
            "target",
        ]
        limit = served.get("capacity_loss_percent")
        lines += [
            f"### Worker processes: N vs 1 (loss limit {_fmt(limit)} %)",
            "",
            *_table(header, rows),
            "",
        ]
    if served.get("capacity") and not served.get("workers"):
        rows = [
            [f"`{n}`", _fmt(c["subscribers"]), "yes" if c["limit_found"] else "no (a bound)"]
            for n, c in served["capacity"].items()
        ]
        limit = _fmt(served["capacity_loss_percent"])
        lines += [
            f"### Subscribers at ≤ {limit} % loss",
            "",
            *_table(["setup", "subscribers", "limit reached"], rows),
            "",
        ]
    for name, windows in served.get("phases", {}).items():
        rows = []
        for w in windows:
            vs = w.get("vs_quiet", {})
            before = w.get("vs_before")
            rows.append(
                [
                    w["phase"],
                    _fmt(w["loss_percent"]),
                    _fmt(w["join_to_first_frame_ms_p50"])
                    + (f" ({w['join_missing']} without a frame)" if w["join_missing"] else ""),
                    _fmt(w["added_latency_ms_p99"]),
                    _fmt(w["delivered_fps_min"]),
                    _fmt(w["forwarded_packets_per_cpu_second"]),
                    _fmt(w["server_cpu_percent"]),
                    " / ".join(
                        _fmt(vs.get(k))
                        for k in ("join_p50_ratio", "added_p99_ratio", "fps_min_ratio")
                    )
                    if vs
                    else "—",
                    _ok(vs.get("met")) if vs else "—",
                    f"{before['phase']}: "
                    + " / ".join(
                        _fmt(before.get(k))
                        for k in ("join_p50_ratio", "added_p99_ratio", "fps_min_ratio")
                    )
                    + f", {_ok(before.get('met'))}"
                    if before
                    else "—",
                ]
            )
        header = [
            "phase",
            "loss %",
            "join p50 ms",
            "added p99 ms",
            "fps min",
            "pkt per CPU-s",
            "server CPU %",
            "vs quiet: join / p99 / fps",
            "targets",
            "vs the phase before",
        ]
        lines += [f"### Phases on `{name}` (the hearings never on air)", "", *_table(header, rows)]
        lines += ["", *(f"- {w['phase']}: {_said(w['conditions'])}" for w in windows), ""]
    return lines


METHODS = """\
- **Server CPU**: user + system time of the server processes from `/proc/PID/stat` (the SFU
  worker processes; with a server, the server process and everything it started, children that
  exited inside the window included: their time moves to the parent's `children_*` times as it
  reaps them), over each window.
  On loopback the kernel delivers each datagram to the receiving socket inside the sender's
  `sendto`, so the server's kernel time also holds the subscribers' receive path.
- **Forwarded packets**: the workers' `packets_out` counters (`Worker.stats()`, `/metrics`);
  for the baseline, which has none, the packets its subscribers received.
- **Subscribers per core**: subscribers ÷ server cores used at full load (average cost, the
  publishers' ingest included).
- **Delivered frames/s**: per subscriber, video packets with the marker bit per second on its
  worst video track, read from the RTP header off the socket (SRTP leaves it in clear; nothing is
  decrypted or decoded); **loss**: sequence numbers missing at the subscribers.
- **SFU-added latency** (self-contained mode): inside the worker, from the publisher's
  abs-send-time (stamped by aiortc as it builds the packet; same machine, same clock) to the
  moment the worker handed the *last* subscriber's copy of that packet to `sendto`, so an upper
  bound per copy; it includes the loopback hop and the wait in the worker's socket buffer.
  *In-process* is the part after aioice's socket callback. *End to end* is publisher → a
  subscriber's socket callback, also through the generator's event loop. "Half load" is the step
  whose worker CPU is nearest 50 % of a core. With a server, only end to end is available:
  the phases' "added p99" is that one.
- **Phases** (`--phases`, with a server): after the steps, one window per phase with the same
  subscribers; `public:N` puts the first N hearings on air (they stay on air), `archives:N`
  records N more hearings for `--archive-seconds`, ends them and measures while their composite
  archives build, `hls:R` runs player-like viewers of the streams on air at R requests/s. Their
  figures are those of the hearings never on air; join → first frame is timed by sampled
  subscribers that join during each window and leave after it.
- **Served vs bare**: forwarded packets per CPU-second of all the server's processes against
  the bare worker process under the same load in the same run. **N workers vs 1**: subscribers
  at the loss limit (`--capacity-loss`, the largest step at or under it), and packets per
  worker-CPU-second (each worker's `cloudcourt_sfu_worker_cpu_seconds_total`) with N side by side
  over one worker alone at the same load per worker, times N.
- **Join → first decoded frame**: sampled subscribers decrypt and decode (PyAV) until their first
  picture; from the join request to the decoded frame.
- **Worker scaling**: a worker is one event loop, one core at most; two workers on two cores carry
  2 × their per-worker forwarded packets per CPU-second. The run measures that rate with both
  workers running side by side (the full load, hearings split between them) and divides by the
  rate of one worker alone carrying the same load per worker (the ramp step nearest to it). The
  generator shares the same two cores, so the pair cannot be driven to saturation here.
- **Generator CPU**: all generator processes and the coordinator; *other CPU* is what the rest of
  the machine used meanwhile (from `/proc/stat`): a busy neighbour shows there.
"""


def markdown(result: dict[str, Any], plot_path: str | os.PathLike[str] | None = None) -> str:
    scenario, machine = result["scenario"], result["machine"]
    lines = [
        "# SFU capacity report",
        "",
        f"{machine['date']}, {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']}"
        f" GiB; Python {machine['python']}, aiortc {machine['aiortc']}; {result['duration_s']} s.",
        "",
        f"`{result['command']}`",
        "",
        f"Load: {scenario['hearings']} hearings × {scenario['publishers']} publishers ×"
        f" {scenario['steps'][-1]} subscribers per hearing (steps {list(scenario['steps'])}),"
        f" {scenario['codec'].upper()} {scenario['width']}×{scenario['height']} at"
        f" {scenario['fps']} fps, {scenario['publisher_video_kbps']} kbit/s + Opus per publisher,"
        f" joining at {scenario['join_rate']:g}/s; {scenario['window']:g} s measured per step,"
        f" {scenario['generators']} generator processes.",
        "",
        "## Against the targets",
        "",
        *_targets(result),
        "",
        "## Headline",
        "",
        *_table(["figure", "value"], [[t, _fmt(result.get(k))] for k, t in HEADLINE]),
        "",
    ]
    if plot_path:
        lines += [f"![server CPU vs subscribers]({Path(plot_path).name})", ""]
    comparisons = _served(result.get("served") or {})
    if comparisons:
        lines += ["## Served path (issue 17)", "", *comparisons]
    lines += ["## Steps", ""]
    for name, setup in result["setups"].items():
        lines += [*_setup_section(name, setup), ""]
    served = [s for s in result["setups"].values() if s.get("served")]
    main = served[0] if served else result["setups"].get("sfu_1_worker")
    lines += ["## Where the worker's time goes", "", *_profile((main or {}).get("profile")), ""]
    lines += ["## How it is measured", "", METHODS]
    return "\n".join(lines)
