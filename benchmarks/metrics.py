"""From snapshots to figures: one measured window, and the run's summary against the targets."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.cluster import Snapshot
from benchmarks.histogram import Histogram
from benchmarks.procstat import percentile

# (key, comparison, target, what it means) — issue 3's targets, reported, never asserted.
TARGETS = (
    ("forwarded_packets_per_cpu_second", ">=", 60_000, "forwarded packets per CPU-s, 1 worker"),
    ("ratio_vs_baseline", ">=", 100, "subscribers per core vs the MediaRelay baseline"),
    ("added_latency_ms_p99", "<=", 5.0, "SFU-added latency p99 at half load (ms)"),
    ("join_to_first_frame_ms_p50", "<=", 500, "join → first decoded frame p50 (ms)"),
    ("worker_scaling", ">=", 1.8, "2 workers on 2 cores vs 1 worker"),
)


def _latency(histograms: list[dict[int, int] | None]) -> dict[str, Any]:
    merged = Histogram()
    for counts in histograms:
        if counts:
            merged.merge(counts)
    return {
        "p50": _round(merged.percentile_ms(50), 3),
        "p99": _round(merged.percentile_ms(99), 3),
        "max": _round(merged.percentile_ms(100), 3),
        "samples": merged.total,
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _counter(before: Snapshot, after: Snapshot, name: str) -> int:
    return sum(
        a.get(name, 0) - b.get(name, 0)
        for a, b in zip(after.counters, before.counters, strict=True)
    )


def _workers(before: Snapshot, after: Snapshot, elapsed: float) -> dict[str, Any]:
    """A server's worker processes (its /metrics `worker` label): each one's CPU, and packets
    forwarded per worker-CPU-second (the control plane and the sidecars left out)."""
    if not after.workers:
        return {}

    def delta(worker: str, key: str) -> float:
        return after.workers[worker].get(key, 0.0) - before.workers.get(worker, {}).get(key, 0.0)

    cpu = {w: delta(w, "worker_cpu_seconds") for w in sorted(after.workers)}
    packets = sum(delta(w, "packets_out") for w in after.workers)
    total = sum(cpu.values())
    return {
        "worker_cpu_percent": {w: round(100 * c / elapsed, 1) for w, c in cpu.items()},
        "worker_forwarded_packets_per_cpu_second": round(packets / total) if total > 0 else None,
        "worker_restarts": round(sum(delta(w, "worker_restarts") for w in after.workers)),
    }


def window(before: Snapshot, after: Snapshot, subscribers: list[str]) -> dict[str, Any]:
    """The figures of one measured window between two snapshots."""
    elapsed = after.time - before.time
    per_server = [a - b for a, b in zip(after.server_cpu, before.server_cpu, strict=True)]
    server_cpu = sum(per_server) if per_server else None
    fps: list[float] = []
    received = expected = missing = 0
    for peer_id in subscribers:
        now, then = after.subscribers.get(peer_id), before.subscribers.get(peer_id)
        if now is None or then is None:
            missing += 1
            continue
        video = []
        for ssrc, (kind, packets, frames, numbered) in now["streams"].items():
            _, packets0, frames0, numbered0 = then["streams"].get(ssrc, (kind, 0, 0, 0))
            received += packets - packets0
            expected += numbered - numbered0
            if kind == "video":
                video.append((frames - frames0) / elapsed)
        fps.append(min(video) if video else 0.0)
    # The relay baseline has no forwarding counters: what its subscribers received stands in.
    has_counters = any(after.counters)
    forwarded = _counter(before, after, "packets_out") if has_counters else received
    generator_cpu = [a - b for a, b in zip(after.generator_cpu, before.generator_cpu, strict=True)]
    cores = server_cpu / elapsed if server_cpu else None
    machine = (after.machine_busy - before.machine_busy) / elapsed
    ours = (server_cpu or 0) / elapsed + sum(generator_cpu) / elapsed
    return {
        "subscribers": len(subscribers),
        "subscribers_missing": missing,
        "window_s": round(elapsed, 2),
        "server_cpu_percent": _round(100 * cores if cores is not None else None),
        "server_cpu_percent_per_process": [round(100 * c / elapsed, 1) for c in per_server],
        # On loopback the kernel delivers each sent datagram to the receiving socket inside the
        # sender's sendto, so the server's system time also holds the subscribers' receive path.
        "server_system_cpu_percent": round(
            100 * (sum(after.server_sys) - sum(before.server_sys)) / elapsed, 1
        ),
        "packets_in_per_s": round(_counter(before, after, "packets_in") / elapsed, 1),
        "forwarded_packets_per_s": round(forwarded / elapsed, 1),
        "forwarded_bytes_per_s": round(_counter(before, after, "bytes_out") / elapsed),
        "received_packets_per_s": round(received / elapsed, 1),
        "forwarded_packets_per_cpu_second": round(forwarded / server_cpu) if server_cpu else None,
        "subscribers_per_core": _round(len(subscribers) / cores if cores else None),
        "delivered_fps_min": _round(min(fps) if fps else None),
        "delivered_fps_median": _round(statistics.median(fps) if fps else None),
        "loss_percent": (
            round(100 * max(0, expected - received) / expected, 3) if expected else None
        ),
        "latency_ms": {
            "in_process": _latency([p["in_process"] if p else None for p in after.probes]),
            "from_wire": _latency([p["from_wire"] if p else None for p in after.probes]),
            "end_to_end": _latency(list(after.latency)),
            "before_read": _latency([p["before_read"] if p else None for p in after.probes]),
            "gc_pause": _latency([p["gc_pause"] if p else None for p in after.probes]),
            "loop_lag": _latency([p["loop_lag"] if p else None for p in after.probes]),
        },
        "generator_cpu_percent": round(100 * sum(generator_cpu) / elapsed, 1),
        "generator_cpu_percent_max_process": round(100 * max(generator_cpu) / elapsed, 1),
        "keyframe_requests": after.keyframe_requests - before.keyframe_requests,
        # The SFU's proof that it never decodes (MediaRelay has no such counters).
        "decoders_created": sum(c.get("decoders_created", 0) for c in after.counters),
        "decoder_threads": sum(c.get("decoder_threads", 0) for c in after.counters),
        # Everything the machine did, and the part that was neither the server nor the generator
        # (the kernel's own threads, other programs): a busy neighbour shows up here.
        "machine_cpu_percent": round(100 * machine, 1),
        "other_cpu_percent": round(100 * max(0.0, machine - ours), 1),
        **_workers(before, after, elapsed),
    }


def _half_load(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The step whose worker CPU is nearest half a core: 'half load' of one worker."""
    return min(steps, key=lambda s: abs((s["server_cpu_percent"] or 0) - 50))


def _evaluate(summary: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for key, comparison, target, meaning in TARGETS:
        value = summary.get(key)
        if value is None:
            verdicts.append({"key": key, "target": f"{comparison} {target}", "value": None})
            continue
        met = value >= target if comparison == ">=" else value <= target
        # How far from the target, as a share of it (positive: room to spare).
        margin = (value - target) / target if comparison == ">=" else (target - value) / target
        verdicts.append(
            {
                "key": key,
                "meaning": meaning,
                "target": f"{comparison} {target}",
                "value": value,
                "met": met,
                "margin_percent": round(100 * margin, 1),
            }
        )
    return verdicts


def _scaling(one: list[dict[str, Any]], both: dict[str, Any], workers: int) -> dict[str, Any]:
    """Capacity of N workers on N cores relative to one worker.

    A worker is one event loop, one core at most, so N workers on N cores carry N x their
    per-worker forwarded packets per CPU-second. That rate is measured with all N running side by
    side and compared with one worker carrying the same load per worker (the ramp step with the
    nearest number of subscribers), because a worker's rate grows with its load (fixed costs
    spread over more packets): comparing a half-loaded pair with a fully loaded single worker
    would measure that, not the scaling.
    """
    per_worker = both["subscribers"] / workers
    alone = min(one, key=lambda s: abs(s["subscribers"] - per_worker))
    rate, alone_rate = (
        both["forwarded_packets_per_cpu_second"],
        alone["forwarded_packets_per_cpu_second"],
    )
    return {
        "worker_scaling": round(workers * rate / alone_rate, 2) if rate and alone_rate else None,
        "worker_scaling_workers": workers,
        "two_workers_forwarded_packets_per_cpu_second": rate,
        "one_worker_same_load_forwarded_packets_per_cpu_second": alone_rate,
        "one_worker_same_load_subscribers": alone["subscribers"],
        "two_workers_cpu_percent_per_process": both["server_cpu_percent_per_process"],
        "two_workers_delivered_fps_min": both["delivered_fps_min"],
        "two_workers_subscribers": both["subscribers"],
    }


def summarize(setups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The JSON report's top-level figures (names fixed by issue 3) from the measured setups."""
    # The served path when there is one (the figures people get), else the bare worker.
    main = next((s for s in setups.values() if s.get("served")), None) or setups["sfu_1_worker"]
    full = main["steps"][-1]
    half = _half_load(main["steps"])
    baseline = setups.get("mediarelay")
    base = baseline["steps"][-1] if baseline else None
    latency = half["latency_ms"]["from_wire"]
    method = "from_wire"
    if not latency["samples"]:  # a remote server: no probe inside it
        latency, method = half["latency_ms"]["end_to_end"], "end_to_end"
    first_frames = [s * 1000 for s in main["first_frame_s"] if s is not None]
    summary: dict[str, Any] = {
        "forwarded_packets_per_cpu_second": full["forwarded_packets_per_cpu_second"],
        "subscribers_per_core": full["subscribers_per_core"],
        "baseline_subscribers_per_core": base["subscribers_per_core"] if base else None,
        "ratio_vs_baseline": None,
        "added_latency_ms_p50": latency["p50"],
        "added_latency_ms_p99": latency["p99"],
        "added_latency_method": method,
        "added_latency_load_percent": half["server_cpu_percent"],
        "added_latency_in_process_ms_p50": half["latency_ms"]["in_process"]["p50"],
        "added_latency_in_process_ms_p99": half["latency_ms"]["in_process"]["p99"],
        "end_to_end_latency_ms_p50": half["latency_ms"]["end_to_end"]["p50"],
        "end_to_end_latency_ms_p99": half["latency_ms"]["end_to_end"]["p99"],
        "join_to_first_frame_ms_p50": _round(percentile(first_frames, 50)),
        "join_to_first_frame_ms_p95": _round(percentile(first_frames, 95)),
        "join_to_first_frame_samples": len(first_frames),
        "join_to_first_frame_missing": sum(1 for s in main["first_frame_s"] if s is None),
        "delivered_fps_min": full["delivered_fps_min"],
        "delivered_fps_median": full["delivered_fps_median"],
        "loss_percent": full["loss_percent"],
        "generator_cpu_percent": full["generator_cpu_percent"],
        "generator_cpu_percent_max_process": full["generator_cpu_percent_max_process"],
        "server_cpu_percent": full["server_cpu_percent"],
        "subscribers": full["subscribers"],
        "forwarded_packets_per_s": full["forwarded_packets_per_s"],
        "server_rss_mb_per_subscriber": main.get("rss_mb_per_subscriber"),
    }
    if base and base["subscribers_per_core"] and full["subscribers_per_core"]:
        summary["ratio_vs_baseline"] = round(
            full["subscribers_per_core"] / base["subscribers_per_core"], 1
        )
        summary["baseline_delivered_fps_min"] = base["delivered_fps_min"]
        summary["baseline_server_cpu_percent"] = base["server_cpu_percent"]
    two = setups.get("sfu_2_workers")
    if two and setups.get("sfu_1_worker"):
        one = setups["sfu_1_worker"]["steps"]
        summary.update(_scaling(one, two["steps"][-1], two["server_processes"]))
    else:
        summary["worker_scaling"] = None
    summary["targets"] = _evaluate(summary)
    return summary
