"""The recorder's API and `cloudcourt verify`, as the court's systems would use them in tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e import Api, eventually


def verify(data_dir: Path, hearing_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signaling", "verify", hearing_id, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def recording(api: Api, hearing_id: str, auth: str = "admin") -> dict:
    status, body, _ = await api.request("GET", f"/api/hearings/{hearing_id}/recordings", auth=auth)
    assert status == 200, (status, body)
    return body


async def segments(api: Api, track: dict, limit: int | None = None, auth: str = "admin") -> list:
    """Every sealed segment of a track, page by page (``next`` links)."""
    url = track["segments_url"] + (f"?limit={limit}" if limit else "")
    found: list = []
    while url:
        status, page, _ = await api.request("GET", url, auth=auth)
        assert status == 200, (status, page)
        found += page["segments"]
        url = page["next"]
    return found


async def wait_recorded(
    api: Api, hearing_id: str, seconds: float, timeout: float = 40, tracks: int = 2
) -> dict:
    """Until ``tracks`` tracks (or more) each have at least ``seconds`` of sealed segments."""
    seen: dict = {}

    async def enough() -> bool:
        seen.update(await recording(api, hearing_id))
        found = seen["originals"]
        return len(found) >= tracks and all(t["duration_seconds"] >= seconds for t in found)

    def detail() -> str:
        return f"state {seen.get('state')}, tracks {seen.get('originals')}"

    await eventually(enough, timeout, f"{seconds} s recorded", interval=0.3, detail=detail)
    return seen
