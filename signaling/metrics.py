"""GET /metrics: Prometheus text format (prometheus-client), one registry per application.

The SFU worker's and the live hearings' figures are read when /metrics is scraped (a collector),
not copied into client-library counters on every change: the hot path keeps its plain integers.
What this module measures itself is the HTTP request latency, as a histogram per route, and the
lobby wait (observed by moderation when someone waiting is admitted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# What each SFU figure means. Counters are monotonic; everything else is a current value.
SFU_COUNTERS = {
    "packets_in": "RTP/RTCP packets received from publishers",
    "bytes_in": "bytes of RTP/RTCP received from publishers",
    "packets_out": "RTP/RTCP packets sent to subscribers",
    "bytes_out": "bytes of RTP/RTCP sent to subscribers",
    "nacks_answered": "NACKed packets resent from the packet cache",
    "nacks_sent": "NACKs sent to publishers",
    "plis_sent": "keyframe requests (PLI) sent to publishers",
    "decoders_created": "media decoders created in this process (the SFU never decodes: 0)",
    # What the media plane dropped (sfu.rtc_internals.Drops).
    "datagrams_foreign": "datagrams dropped because they came from an unselected address",
    "datagrams_oversized": "datagrams dropped for being over 1500 bytes",
    "ice_queue_drops": "datagrams dropped because the queue towards DTLS was full",
    "receive_errors": "datagrams dropped because handling them raised",
    "send_drops": "packets not sent (protection failed or the socket buffer was full)",
}
SFU_GAUGES = {
    "rooms": "SFU rooms (hearings with media)",
    "peers": "SFU peers",
    "publications": "tracks published",
    "subscriptions": "publications delivered to a peer",
    "decoder_threads": "decoder threads running (the SFU never decodes: 0)",
    "peer_connections": "peer connections",
    "peer_connections_connected": "peer connections whose transport is connected",
}
# Per worker process (`worker` label), from the supervisor and the worker's own reports.
WORKER_COUNTERS = {
    "worker_restarts": "times the worker process was restarted",
    "worker_cpu_seconds": "CPU time of the worker process (user + system)",
    "tap_send_drops": "tap datagrams a worker could not send (a sidecar behind)",
    "keyframe_requests": "keyframe requests the worker sent publishers, reported at most once "
    "a second per publication",
}
WORKER_GAUGES = {
    "worker_up": "1 while the worker process is ready, else 0",
    "worker_rss_bytes": "resident memory of the worker process",
    "worker_heartbeat_age_seconds": "time since the worker's last message",
    "worker_loop_lag_seconds": "largest lag of the worker's heartbeat timer in the last second",
    "worker_forwarded_packets_per_second": "packets the worker sent to subscribers per second",
}
PLACEMENT_GAUGES = {
    "placement_hearings": "hearings placed on the worker",
    "placement_outgrown": "hearings of the worker that need more than it can give",
}
PLACEMENT_COUNTERS = {
    "placement_replacements": "hearings re-placed on another worker after this one was lost",
}
SIDECAR_COUNTERS = {
    "sidecar_restarts": "times the sidecar process was restarted",
    "sidecar_cpu_seconds": "CPU time of the sidecar process (user + system)",
    "sidecar_tap_lost_packets": "tap packets lost before the sidecar read them (sequence gaps)",
    "sidecar_tap_dropped": "tap packets the sidecar did not take in time (queue full)",
}
SIDECAR_GAUGES = {
    "sidecar_up": "1 while the sidecar process is up, else 0",
    "sidecar_rss_bytes": "resident memory of the sidecar process",
}
CONTROL_COUNTERS = {
    "media_connect_failures": "media connections that failed to connect",
}
CONTROL_GAUGES = {
    "live_hearings": "hearings with live state in memory",
    "sockets": "Socket.IO connections",
}

# From a party the judge admits at once to one kept waiting through a long preceding hearing.
_LOBBY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Buckets from a fast JSON answer to a slow WHIP negotiation (ICE gathering takes seconds).
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _families(
    prefix: str,
    values: Mapping[str, int | float],
    counters: Mapping[str, str],
    gauges: Mapping[str, str],
) -> Iterator[Metric]:
    for key, value in sorted(values.items()):
        # A figure added to a stats() without a description here is still exported.
        if key in counters:
            yield CounterMetricFamily(f"{prefix}{key}", counters[key], value=value)
        else:
            yield GaugeMetricFamily(f"{prefix}{key}", gauges.get(key, key.replace("_", " ")), value)


def _labelled(per_worker: Mapping[str, Mapping[str, int | float]]) -> Iterator[Metric]:
    """One family per figure with a sample per worker (Prometheus sums; there is no total)."""
    counters = {**SFU_COUNTERS, **WORKER_COUNTERS}
    gauges = {**SFU_GAUGES, **WORKER_GAUGES}
    # Every documented family, even before a worker's first `load` report has its counters.
    reported = {key for figures in per_worker.values() for key in figures}
    keys = sorted(reported | counters.keys() | gauges.keys())
    for key in keys:
        family: CounterMetricFamily | GaugeMetricFamily
        if key in PLACEMENT_GAUGES:
            family = GaugeMetricFamily(
                f"cloudcourt_{key}", PLACEMENT_GAUGES[key], labels=["worker"]
            )
        elif key in PLACEMENT_COUNTERS:
            family = CounterMetricFamily(
                f"cloudcourt_{key}", PLACEMENT_COUNTERS[key], labels=["worker"]
            )
        elif key in counters:
            family = CounterMetricFamily(f"cloudcourt_sfu_{key}", counters[key], labels=["worker"])
        else:
            description = gauges.get(key, key.replace("_", " "))
            family = GaugeMetricFamily(f"cloudcourt_sfu_{key}", description, labels=["worker"])
        for worker, figures in sorted(per_worker.items()):
            if key in figures:
                family.add_metric([worker], figures[key])
        yield family


def _by_sidecar(per_sidecar: Mapping[str, Mapping[str, int | float]]) -> Iterator[Metric]:
    """`cloudcourt_sidecar_*{sidecar="recorder"|"livestream"}`: none while they run in-process."""
    for key in sorted({key for figures in per_sidecar.values() for key in figures}):
        family: CounterMetricFamily | GaugeMetricFamily
        if key in SIDECAR_COUNTERS:
            family = CounterMetricFamily(
                f"cloudcourt_{key}", SIDECAR_COUNTERS[key], labels=["sidecar"]
            )
        else:
            description = SIDECAR_GAUGES.get(key, key.replace("_", " "))
            family = GaugeMetricFamily(f"cloudcourt_{key}", description, labels=["sidecar"])
        for name, figures in sorted(per_sidecar.items()):
            if key in figures:
                family.add_metric([name], figures[key])
        yield family


PerProcess = Callable[[], Mapping[str, Mapping[str, int | float]]]


class ServerCollector(Collector):
    """The SFU workers', the sidecars' and the live hearings' current figures, read at each
    scrape."""

    def __init__(
        self,
        sfu: Callable[[], Mapping[str, int | float]],
        control: Callable[[], Mapping[str, int | float]],
        workers: PerProcess | None = None,
        sidecars: PerProcess | None = None,
    ) -> None:
        self.sfu = sfu
        self.control = control
        self.workers = workers
        self.sidecars = sidecars

    def collect(self) -> Iterator[Metric]:
        per_worker = self.workers() if self.workers is not None else {}
        if per_worker:  # worker processes: every SFU family carries the `worker` label
            yield from _labelled(per_worker)
        else:  # the SFU in this process: unlabelled, as before
            yield from _families("cloudcourt_sfu_", self.sfu(), SFU_COUNTERS, SFU_GAUGES)
        yield from _families("cloudcourt_", self.control(), CONTROL_COUNTERS, CONTROL_GAUGES)
        if self.sidecars is not None:
            yield from _by_sidecar(self.sidecars())


class Metrics:
    """One application's registry: several apps in one process (tests) do not collide."""

    def __init__(
        self,
        sfu: Callable[[], Mapping[str, int | float]],
        control: Callable[[], Mapping[str, int | float]],
        workers: PerProcess | None = None,
        sidecars: PerProcess | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(ServerCollector(sfu, control, workers, sidecars))
        ProcessCollector(registry=self.registry)
        self.request_seconds = Histogram(
            "cloudcourt_http_request_duration_seconds",
            "time from an HTTP request's arrival to its response, by route and method",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lobby_wait_seconds = Histogram(
            "cloudcourt_lobby_wait_seconds",
            "time from a participant's arrival in the lobby to a moderator admitting them",
            buckets=_LOBBY_BUCKETS,
            registry=self.registry,
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


# Requests held open by design (a WebSocket, a long poll): their time is no latency.
_HELD_OPEN = frozenset({"/socket.io/"})


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The route's pattern, never the path: ids in paths would make a series per hearing.
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    if route in _HELD_OPEN:
        return await handler(request)
    start = time.perf_counter()
    try:
        return await handler(request)
    finally:
        request.app[METRICS].request_seconds.labels(route, request.method).observe(
            time.perf_counter() - start
        )


routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].text(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def add_routes(app: web.Application, metrics: Metrics) -> None:
    """`/metrics` from ``metrics``; the app's middlewares must include `timing_middleware`."""
    app[METRICS] = metrics
    app.add_routes(routes)
