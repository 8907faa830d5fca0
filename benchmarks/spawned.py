"""`cloudcourt serve` started by the load test itself (`--spawn-server ARGS`).

Each one gets a fresh temporary data directory, a free port on 127.0.0.1, an admin key made here
and CLOUDCOURT_ICE_LOOPBACK=1, so that one run can load several configurations in turn
(`--sfu-workers 1`, then 2) on the same generators. It runs in a session of its own: when it has
been stopped, any process still in that session is a child that outlived its server, which the
run reports (and then ends, as it started them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil  # type: ignore[import-untyped]

HEALTH_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
# Settings of the environment the server must not inherit: they would send it elsewhere.
NOT_INHERITED = (
    "REDIS_URL",
    "CLOUDCOURT_PUBLIC_URL",
    "CLOUDCOURT_ICE_SERVERS",
    "CLOUDCOURT_ADMIN_KEY",
)


class SpawnError(RuntimeError):
    """The server did not start, or did not stop; the message holds the end of its log."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_members(sid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if os.getsid(process.pid) == sid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
    return members


class SpawnedServer:
    """`python -m signaling serve ARGS` on a free port; `start()`, then `stop()`."""

    def __init__(self, args: str, log_dir: str | None = None) -> None:
        self.args = args
        self.argv = shlex.split(args)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_key = secrets.token_urlsafe(24)
        self.data_dir = Path(tempfile.mkdtemp(prefix="cloudcourt-loadtest-"))
        self.log_path = self.data_dir / "server.log"
        self._log_dir = log_dir
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env.update(
            CLOUDCOURT_ICE_LOOPBACK="1", CLOUDCOURT_ADMIN_KEY=self.admin_key, PYTHONUNBUFFERED="1"
        )
        command = [sys.executable, "-m", "signaling", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--data-dir", str(self.data_dir), *self.argv]
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its session: what is left in it after stop() outlived it
            )
        finally:
            os.close(log)  # the child has its own copy
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + HEALTH_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise SpawnError(self._failure(f"exited with {self.process.returncode}"))
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(f"{self.url}/api/health") as response:
                        health: dict[str, Any] = await response.json()
                        workers = health.get("workers")
                        # With worker processes: healthy once every one of them is ready.
                        if response.status == 200 and (
                            workers is None or workers["ready"] == workers["total"]
                        ):
                            return
                await asyncio.sleep(0.1)
        await self.stop()
        raise SpawnError(self._failure(f"not healthy within {HEALTH_TIMEOUT:g} s"))

    def _failure(self, what: str) -> str:
        return f"cloudcourt serve {self.args} {what}; its log ends:\n{self.log_tail()}"

    async def stop(self) -> list[str]:
        """SIGTERM, wait, and the processes of its session that outlived it (ended here)."""
        outlived: list[str] = []
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                outlived.append(
                    f"{self.pid} cloudcourt serve: no exit {STOP_TIMEOUT:g} s after TERM"
                )
                self.process.kill()
                await self.process.wait()
        if self.process is not None:
            for member in _session_members(self.pid):
                with contextlib.suppress(psutil.Error):
                    outlived.append(f"{member.pid} {' '.join(member.cmdline())[:120]}")
                    member.kill()
        if self._log_dir:
            Path(self._log_dir).mkdir(parents=True, exist_ok=True)
            name = "serve" + "".join(f"_{a.lstrip('-')}" for a in self.argv) + ".log"
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, Path(self._log_dir) / name)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return outlived
