"""A running `cloudcourt serve` as the server under test: its HTTP API (docs/API.md) and /metrics.

Hearings and pre-admitted tokens are made with the admin key; the generated peers then join over
Socket.IO like any client. The server's CPU is read from /proc when it runs on this machine (its
process is found by the port it listens on, or given with --server-pid).
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.procstat import pid_listening_on

# The SFU counters /metrics exports (cloudcourt_sfu_<name>_total) that the report uses.
COUNTERS = ("packets_in", "bytes_in", "packets_out", "bytes_out", "decoders_created")


class RemoteServer:
    def __init__(self, url: str, admin_key: str, pid: int | None = None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_key}"}
        self._session: aiohttp.ClientSession | None = None
        parts = urlsplit(self.url)
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        self.pid = pid or (pid_listening_on(parts.port or 80) if local else None)

    async def __aenter__(self) -> RemoteServer:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.post(
            self.url + path, json=body or {}, headers=self._headers
        ) as response:
            payload: dict[str, Any] = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"POST {path}: {response.status} {payload.get('error')}")
            return payload

    async def create_hearing(self, number: int) -> str:
        hearing = await self._post(
            "/api/hearings",
            {
                "case_number": f"(2026)负载测试{number:04d}号",
                "title": f"load test hearing {number}",
                "court": "load test",
                "case_type": "civil",
                "public": False,
                "scheduled_at": datetime.datetime.now(datetime.UTC).isoformat(),
            },
        )
        return str(hearing["id"])

    async def token(self, hearing: str, role: str, name: str) -> str:
        issued = await self._post(
            f"/api/hearings/{hearing}/tokens", {"role": role, "name": name, "admitted": True}
        )
        return str(issued["token"])

    async def end(self, hearing: str) -> None:
        await self._post(f"/api/hearings/{hearing}/end")

    async def counters(self) -> dict[str, int]:
        """The SFU's forwarding counters from /metrics."""
        assert self._session is not None
        async with self._session.get(self.url + "/metrics") as response:
            text = await response.text()
        # Summed over the `worker` label that each worker process's samples carry
        # (--sfu-workers N); the in-process SFU has one unlabelled sample per counter.
        values: dict[str, int] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("cloudcourt_sfu_") and sample.name.endswith("_total"):
                    key = sample.name.removeprefix("cloudcourt_sfu_").removesuffix("_total")
                    values[key] = values.get(key, 0) + int(sample.value)
        return {k: values.get(k, 0) for k in COUNTERS}
