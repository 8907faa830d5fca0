"""Where a server process spends its time: py-spy, sampling it from outside while under load.

py-spy is a benchmark tool, not a runtime dependency (`pip install py-spy`); without it the report
says so and carries no profile. `--nonblocking` keeps the sampled process running between samples.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _function(frame: str) -> str:
    """'forward (sfu/subscription.py:123)' -> 'forward (sfu/subscription.py)'."""
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})"


def summarize_collapsed(text: str, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares of each function in py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_function(f) for f in stack.split(";")]
        own[frames[-1]] += samples
        for function in set(frames):
            inclusive[function] += samples

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / total, 1)) for f, n in counter.most_common(top)]

    return {"samples": total, "self_percent": shares(own), "inclusive_percent": shares(inclusive)}


async def profile_process(pid: int, seconds: float, out_dir: str, name: str) -> dict[str, Any]:
    exe = _py_spy()
    if exe is None:
        return {"error": "py-spy is not installed (pip install py-spy); no profile"}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = Path(out_dir) / f"{name}.collapsed.txt"
    process = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0 or not path.exists():
        return {"error": f"py-spy failed: {stderr.decode(errors='replace').strip()[-300:]}"}
    return {"file": str(path), **summarize_collapsed(path.read_text())}
