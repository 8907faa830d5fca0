"""The capacity plot as a PNG: server CPU against subscribers, the SFU beside MediaRelay.

Drawn with matplotlib, the optional `bench` extra (`pip install cloudcourt[bench]`); without it
`cloudcourt loadtest` reports its numbers and says how to get the plot (benchmarks/sfu.py).
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure

BLUE, RED, GREEN = "#1f66c4", "#ce372d", "#2e9646"


def _points(setup: dict[str, Any] | None) -> list[tuple[float, float]]:
    if not setup:
        return []
    return [
        (s["subscribers"], s["server_cpu_percent"])
        for s in setup["steps"]
        if s["server_cpu_percent"] is not None
    ]


def capacity_png(result: dict[str, Any]) -> bytes:
    setups = result.get("setups", {})
    series = [
        ("SFU, 1 worker", BLUE, _points(setups.get("sfu_1_worker") or setups.get("server"))),
        ("MediaRelay baseline", RED, _points(setups.get("mediarelay"))),
        ("SFU, 2 workers (sum)", GREEN, _points(setups.get("sfu_2_workers"))),
    ]
    # A Figure of its own, not pyplot: no global state, no display backend.
    figure = Figure(figsize=(9.6, 6.0), dpi=100, layout="constrained")
    axes = figure.subplots()
    for index, (name, color, points) in enumerate(series):
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, "o-", color=color, linewidth=2.5, label=name)
        # Where a one-process curve would reach a full core at its measured CPU per subscriber
        # (the subscribers_per_core figure).
        last_x, last_y = points[-1]
        if index < 2 and 0 < last_y < 100:
            axes.plot([last_x, last_x * 100 / last_y], [last_y, 100], "--", color=color)
    axes.axhline(100, color="#282828", linestyle=":", linewidth=1)
    axes.annotate("one core", (1, 100), xycoords=("axes fraction", "data"), ha="right", va="bottom")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0, top=max([100.0] + [y for _, _, p in series for _, y in p]) * 1.08)
    axes.set_xlabel("subscribers")
    axes.set_ylabel("server CPU (% of one core)")
    axes.set_title("Server CPU vs subscribers")
    figure.supxlabel("dashed: extended at the measured CPU per subscriber", fontsize="small")
    axes.grid(True, color="#d7d7d7")
    if any(points for _, _, points in series):
        axes.legend(loc="upper left")
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
