"""Where each person goes in a hearing's composite picture, what their caption says, and how any
text (a caption, the court's name, a title) is drawn.

Shared by the public stream (live, PyAV) and the recorder's composite archive (after the hearing,
ffmpeg), so that the court's file and the public see the same arrangement: the judge large on the
left, everyone else tiled on the right in the order they joined; nobody but the judge (or nobody
at all) fills the frame.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

# Roles whose video is the "large" picture, in order of preference.
LEAD_ROLES = ("judge", "clerk")
CJK_FONT_FAMILY = "WenQuanYi Micro Hei"  # scripts/_system.sh installs fonts-wqy-microhei
CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


# How a role is written under a person's picture: the same words as the browser clients'
# (web/static/i18n/zh-CN.json "role.*"), so the public and the courtroom name people alike.
ROLE_CAPTIONS = {
    "judge": "法官",
    "clerk": "书记员",
    "party": "当事人",
    "agent": "代理人",
    "witness": "证人",
    "mediator": "调解员",
    "site": "云法庭点",
    "viewer": "旁听",
    "recorder": "录制",
}


def caption(name: str, role: str) -> str:
    """The caption under a person's picture: name and role, e.g. 张三（当事人）."""
    title = ROLE_CAPTIONS.get(role, role)
    return f"{name}（{title}）" if title else name


@dataclass(frozen=True)
class Tile:
    key: str  # whatever the caller identifies a person by (participant id)
    x: int
    y: int
    width: int
    height: int


def _even(value: float) -> int:
    # H.264 with 4:2:0 chroma wants even sizes and offsets.
    return int(value) // 2 * 2


def _grid(count: int, x: int, y: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_w, cell_h = width / columns, height / rows
    return [
        (
            _even(x + (i % columns) * cell_w),
            _even(y + (i // columns) * cell_h),
            _even(cell_w),
            _even(cell_h),
        )
        for i in range(count)
    ]


def layout(people: list[tuple[str, str]], width: int, height: int) -> list[Tile]:
    """Tiles for `people` as (key, role) in join order, on a `width`×`height` canvas.

    The first judge (else clerk) takes the left two thirds; the others share the right third in
    a grid. With no judge or clerk, everyone shares the whole canvas as a grid."""
    if not people:
        return []
    lead = next(
        (key for role in LEAD_ROLES for key, r in people if r == role),
        None,
    )
    others = [key for key, _ in people if key != lead]
    if lead is None:
        cells = _grid(len(others), 0, 0, width, height)
        return [Tile(key, *cell) for key, cell in zip(others, cells, strict=True)]
    if not others:
        return [Tile(lead, 0, 0, _even(width), _even(height))]
    lead_w = _even(width * 2 / 3)
    tiles = [Tile(lead, 0, 0, lead_w, _even(height))]
    # One column on the right while it stays readable; a grid once there are many.
    count = len(others)
    if count <= 3:
        cell_h = height / count
        cells = [
            (lead_w, _even(i * cell_h), _even(width - lead_w), _even(cell_h)) for i in range(count)
        ]
    else:
        cells = _grid(count, lead_w, 0, width - lead_w, height)
    tiles += [Tile(key, *cell) for key, cell in zip(others, cells, strict=True)]
    return tiles


@cache
def cjk_font() -> Path:
    """A font file that has Chinese glyphs; raises RuntimeError with what to install if none."""
    for candidate in CJK_FONT_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", f"{CJK_FONT_FAMILY}:lang=zh-cn"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if found and Path(found).is_file():
            return Path(found)
    raise RuntimeError(
        "no CJK font found for Chinese captions: install Debian's fonts-wqy-microhei "
        "(scripts/serve and scripts/test do this)"
    )


# A caption is one line: control characters (a line break, a tab, NUL) and line separators show as
# a space, and a lone surrogate, which is not text, as U+FFFD.
_SHOWN_AS = {"Cc": " ", "Zl": " ", "Zp": " ", "Cs": "\ufffd"}


def one_line(text: str) -> str:
    return "".join(_SHOWN_AS.get(unicodedata.category(char), char) for char in text)


def draw_text(stream: Any, text: str, file: Path, **style: Any) -> Any:
    """``stream`` (ffmpeg-python) with ``text`` drawn on it in the CJK font, exactly as written.

    Names and titles are data, never syntax: the text goes to drawtext in ``file`` (written
    here), not in the filter graph, and with expansion off, so that no character of it is read
    as drawtext's %{...} or \\ escapes, a filter option, a filter graph or a command-line
    argument (which could hold no NUL); every path in the graph is escaped by ffmpeg-python."""
    file.write_text(one_line(text), encoding="utf-8")
    return stream.drawtext(textfile=str(file), expansion="none", fontfile=str(cjk_font()), **style)
