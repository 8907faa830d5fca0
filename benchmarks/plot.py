"""The capacity plot as a PNG: server CPU against subscribers, the SFU beside MediaRelay.

Drawn with numpy and written with zlib (a 5x7 bitmap font for the labels), so the benchmark needs
no plotting library.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

import numpy as np

WIDTH, HEIGHT = 960, 600
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 60, 80
WHITE, BLACK, GREY, DARK_GREY = (255, 255, 255), (40, 40, 40), (215, 215, 215), (110, 110, 110)
BLUE, RED, GREEN = (31, 102, 196), (206, 55, 45), (46, 150, 70)

# 5x7 glyphs, one byte per row (low 5 bits, leftmost pixel = 0x10).
GLYPHS = {
    "0": "0E11131519110E",
    "1": "040C040404040E",
    "2": "0E11010204081F",
    "3": "1F02040201110E",
    "4": "02060A121F0202",
    "5": "1F101E0101110E",
    "6": "0608101E11110E",
    "7": "1F010204080808",
    "8": "0E11110E11110E",
    "9": "0E11110F01020C",
    "A": "0E1111111F1111",
    "B": "1E11111E11111E",
    "C": "0E11101010110E",
    "D": "1C12111111121C",
    "E": "1F10101E10101F",
    "F": "1F10101E101010",
    "G": "0E11101711110F",
    "H": "1111111F111111",
    "I": "0E04040404040E",
    "J": "0702020202120C",
    "K": "11121418141211",
    "L": "1010101010101F",
    "M": "111B1515111111",
    "N": "11111915131111",
    "O": "0E11111111110E",
    "P": "1E11111E101010",
    "Q": "0E11111115120D",
    "R": "1E11111E141211",
    "S": "0F10100E01011E",
    "T": "1F040404040404",
    "U": "1111111111110E",
    "V": "11111111110A04",
    "W": "1111111515150A",
    "X": "11110A040A1111",
    "Y": "1111110A040404",
    "Z": "1F01020408101F",
    "%": "18190204081303",
    ".": "00000000000C0C",
    "-": "0000001F000000",
    "/": "00010204081000",
    "(": "02040808080402",
    ")": "08040202020408",
    ":": "000C0C000C0C00",
    "=": "00001F001F0000",
    ",": "000000000C0408",
    " ": "00000000000000",
}


def _glyph(char: str) -> np.ndarray:
    code = GLYPHS.get(char, GLYPHS[" "])
    rows = [int(code[i : i + 2], 16) for i in range(0, 14, 2)]
    return np.array([[(row >> (4 - x)) & 1 for x in range(5)] for row in rows], dtype=bool)


class Canvas:
    def __init__(self) -> None:
        self.pixels = np.full((HEIGHT, WIDTH, 3), WHITE, dtype=np.uint8)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, ...]) -> None:
        xa, xb = sorted((round(x0), round(x1)))
        ya, yb = sorted((round(y0), round(y1)))
        self.pixels[max(0, ya) : min(HEIGHT, yb + 1), max(0, xa) : min(WIDTH, xb + 1)] = color

    def line(
        self,
        p: tuple[float, float],
        q: tuple[float, float],
        color: tuple[int, ...],
        width: int = 2,
        dash: int = 0,
    ) -> None:
        steps = max(1, int(math.hypot(q[0] - p[0], q[1] - p[1])))
        for i in range(steps + 1):
            if dash and (i // dash) % 2:
                continue
            x = p[0] + (q[0] - p[0]) * i / steps
            y = p[1] + (q[1] - p[1]) * i / steps
            self.rect(x - width / 2, y - width / 2, x + width / 2, y + width / 2, color)

    def dot(self, x: float, y: float, color: tuple[int, ...], radius: int = 5) -> None:
        yy, xx = np.ogrid[:HEIGHT, :WIDTH]
        self.pixels[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] = color

    def text(
        self, x: float, y: float, text: str, color: tuple[int, ...] = BLACK, scale: int = 2
    ) -> None:
        for n, char in enumerate(text.upper()):
            mask = np.kron(_glyph(char), np.ones((scale, scale), dtype=bool))
            left, top = round(x) + n * 6 * scale, round(y)
            region = self.pixels[top : top + mask.shape[0], left : left + mask.shape[1]]
            region[mask[: region.shape[0], : region.shape[1]]] = color

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return (
                struct.pack("!I", len(data))
                + kind
                + data
                + struct.pack("!I", zlib.crc32(kind + data) & 0xFFFFFFFF)
            )

        rows = b"".join(b"\x00" + row.tobytes() for row in self.pixels)
        header = struct.pack("!IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b"")
        )


def _nice_ceiling(value: float) -> float:
    magnitude = 10 ** math.floor(math.log10(max(value, 1)))
    return next(
        m * magnitude for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * magnitude >= value
    )


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
        ("SFU, 1 WORKER", BLUE, _points(setups.get("sfu_1_worker") or setups.get("server"))),
        ("MEDIARELAY BASELINE", RED, _points(setups.get("mediarelay"))),
        ("SFU, 2 WORKERS (SUM)", GREEN, _points(setups.get("sfu_2_workers"))),
    ]
    # Where a one-process curve would reach a full core at its measured CPU per subscriber
    # (the subscribers_per_core figure); dashed on the plot.
    reach = {name: points[-1][0] * 100 / points[-1][1] for name, _, points in series[:2] if points}
    all_points = [p for _, _, points in series for p in points]
    x_max = _nice_ceiling(max([x for x, _ in all_points] + list(reach.values()) + [10]))
    y_max = _nice_ceiling(max([y for _, y in all_points] + [100]) * 1.05)
    canvas = Canvas()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> tuple[float, float]:
        return LEFT + plot_w * min(x, x_max) / x_max, TOP + plot_h * (1 - min(y, y_max) / y_max)

    for i in range(6):
        x_value, y_value = x_max * i / 5, y_max * i / 5
        gx, _ = at(x_value, 0)
        _, gy = at(0, y_value)
        canvas.line((gx, TOP), (gx, TOP + plot_h), GREY, 1)
        canvas.line((LEFT, gy), (LEFT + plot_w, gy), GREY, 1)
        canvas.text(gx - 12, TOP + plot_h + 10, f"{x_value:g}")
        canvas.text(LEFT - 60, gy - 7, f"{y_value:g}%")
    canvas.line(at(0, 100), at(x_max, 100), BLACK, 1, dash=6)
    canvas.text(LEFT + plot_w - 130, at(0, 100)[1] - 20, "ONE CORE")
    canvas.line((LEFT, TOP), (LEFT, TOP + plot_h), BLACK, 2)
    canvas.line((LEFT, TOP + plot_h), (LEFT + plot_w, TOP + plot_h), BLACK, 2)
    for name, color, points in series:
        if not points:
            continue
        previous = None
        for x, y in points:
            if previous is not None:
                canvas.line(previous, at(x, y), color, 3)
            previous = at(x, y)
            canvas.dot(*previous, color)
        if name in reach and points[-1][1] < 100:
            canvas.line(previous, at(reach[name], 100), color, 2, dash=8)
    canvas.text(LEFT, 18, "SERVER CPU (% OF ONE CORE) VS SUBSCRIBERS", scale=3)
    canvas.text(LEFT + plot_w / 2 - 70, HEIGHT - 44, "SUBSCRIBERS")
    canvas.text(LEFT, HEIGHT - 20, "DASHED: EXTENDED AT THE MEASURED CPU PER SUBSCRIBER", DARK_GREY)
    for n, (name, color, _) in enumerate(s for s in series if s[2]):
        canvas.rect(LEFT + 20, TOP + 14 + 26 * n, LEFT + 36, TOP + 30 + 26 * n, color)
        canvas.text(LEFT + 46, TOP + 16 + 26 * n, name, color)
    return canvas.png()
