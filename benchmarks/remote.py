"""A running `cloudcourt serve` as the server under test: its HTTP API (docs/API.md) and /metrics.

Hearings and pre-admitted tokens are made with the admin key; the generated peers then join over
Socket.IO like any client. The server's CPU is read from /proc when it runs on this machine (its
process is found by the port it listens on, or given with --server-pid). The load's phases
(benchmarks/phases.py) also put public hearings on air and follow the archives' state here.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.procstat import pid_listening_on

# The SFU counters /metrics exports (cloudcourt_sfu_<name>_total) that the report uses.
COUNTERS = ("packets_in", "bytes_in", "packets_out", "bytes_out", "decoders_created")
# Per worker process (the `worker` label): what the per-worker CPU scaling divides.
WORKER_FIGURES = ("packets_out", "worker_cpu_seconds", "worker_restarts")


RESTART_WAIT = 30.0  # seconds a 503 ("the recorder is restarting") is waited out


class Refused(RuntimeError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


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

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.request(
            method, self.url + path, json=body, headers=self._headers
        ) as response:
            payload: dict[str, Any] = await response.json()
            if response.status >= 300:
                raise Refused(
                    f"{method} {path}: {response.status} {payload.get('error')}", response.status
                )
            return payload

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._call("POST", path, body or {})

    async def _get(self, path: str) -> dict[str, Any]:
        return await self._call("GET", path, None)

    async def create_hearing(self, number: int, public: bool = False) -> str:
        hearing = await self._post(
            "/api/hearings",
            {
                "case_number": f"(2026)负载测试{number:04d}号",
                "title": f"load test hearing {number}",
                "court": "load test",
                "case_type": "civil",
                "public": public,
                "scheduled_at": datetime.datetime.now(datetime.UTC).isoformat(),
            },
        )
        return str(hearing["id"])

    async def health(self) -> dict[str, Any]:
        return await self._get("/api/health")

    async def live_start(self, hearing: str) -> None:
        await self._post(f"/api/hearings/{hearing}/live/start")

    async def live_segments(self, hearing: str) -> int:
        """Segments the public live playlist of the hearing lists now (0 before the first)."""
        assert self._session is not None
        async with self._session.get(f"{self.url}/live/{hearing}/high.m3u8") as response:
            text = await response.text() if response.status == 200 else ""
        return sum(1 for line in text.splitlines() if line.strip().endswith(".ts"))

    async def recording_state(self, hearing: str) -> dict[str, Any]:
        """GET …/recordings/state: `state`, `duration_seconds`, `archive` {state, progress}.

        A 503 while the recorder process restarts (a kill, or a heartbeat missed on a starved
        machine) is waited out: the phase goes on once it is back."""
        deadline = time.monotonic() + RESTART_WAIT
        while True:
            try:
                return await self._get(f"/api/hearings/{hearing}/recordings/state")
            except Refused as exc:
                if exc.status != 503 or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.5)

    async def token(self, hearing: str, role: str, name: str) -> str:
        issued = await self._post(
            f"/api/hearings/{hearing}/tokens", {"role": role, "name": name, "admitted": True}
        )
        return str(issued["token"])

    async def end(self, hearing: str) -> None:
        await self._post(f"/api/hearings/{hearing}/end")

    async def counters(self) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
        """The SFU's forwarding counters from /metrics, and per worker process (`worker` label)
        its packets out, CPU-seconds and restarts ({} with the in-process SFU)."""
        assert self._session is not None
        async with self._session.get(self.url + "/metrics") as response:
            text = await response.text()
        # Summed over the `worker` label that each worker process's samples carry
        # (--sfu-workers N); the in-process SFU has one unlabelled sample per counter.
        values: dict[str, int] = {}
        workers: dict[str, dict[str, float]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("cloudcourt_sfu_") and sample.name.endswith("_total"):
                    key = sample.name.removeprefix("cloudcourt_sfu_").removesuffix("_total")
                    values[key] = values.get(key, 0) + int(sample.value)
                    worker = sample.labels.get("worker")
                    if worker is not None and key in WORKER_FIGURES:
                        workers.setdefault(worker, {})[key] = sample.value
        return {k: values.get(k, 0) for k in COUNTERS}, workers
