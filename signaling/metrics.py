"""GET /metrics: Prometheus text format, from the SFU worker's counters and the live hearings."""

from __future__ import annotations

from aiohttp import web

from signaling.context import services

routes = web.RouteTableDef()

# Monotonic SFU counters; everything else the worker reports is a current value.
SFU_COUNTERS = frozenset(
    {
        "packets_in",
        "bytes_in",
        "packets_out",
        "bytes_out",
        "nacks_answered",
        "nacks_sent",
        "plis_sent",
        "decoders_created",
        # What the media plane dropped (sfu.rtc_internals.Drops).
        "datagrams_foreign",
        "datagrams_oversized",
        "ice_queue_drops",
        "receive_errors",
        "send_drops",
    }
)


# Monotonic counters of the control plane; its other stats are current values.
CONTROL_COUNTERS = frozenset({"media_connect_failures"})


def render(sfu: dict[str, int | float], control: dict[str, int | float]) -> str:
    lines: list[str] = []

    def add(name: str, kind: str, value: int | float) -> None:
        lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name} {value}")

    for key, value in sorted(sfu.items()):
        if not isinstance(value, int | float):
            continue
        if key in SFU_COUNTERS:
            add(f"cloudcourt_sfu_{key}_total", "counter", value)
        else:
            add(f"cloudcourt_sfu_{key}", "gauge", value)
    for key, value in sorted(control.items()):
        if key in CONTROL_COUNTERS:
            add(f"cloudcourt_{key}_total", "counter", value)
        else:
            add(f"cloudcourt_{key}", "gauge", value)
    return "\n".join(lines) + "\n"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    s = services(request)
    text = render(s.worker.stats(), s.live.stats())
    return web.Response(
        text=text, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


def add_routes(app: web.Application) -> None:
    app.add_routes(routes)
