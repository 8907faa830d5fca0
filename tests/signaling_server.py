"""Run the real server (`python -m signaling serve`) as a subprocess, for tests.

``start_server(data_dir, port, env=None) -> ServerProcess`` starts it on 127.0.0.1 and waits until
``/api/health`` answers. A ``ServerProcess`` has ``.url``, ``.admin_key``, ``.jwt_secret``,
``.data_dir``, ``.stop()``, ``.restart()``, ``.running()``, ``.pid``, ``.log_path``,
``.log_text()``, ``.make_token(...)`` (sign arbitrary claims with the server's key) and
``.expired_token(...)``.
``env={"CLOUDCOURT_ADMIN_KEY": ""}`` lets the server generate its admin key (``.admin_key`` is
then read from the data dir).

The SFU runs in one worker process (``CLOUDCOURT_SFU_WORKERS=1``), the path `cloudcourt serve`
serves; a test that needs the in-process worker passes ``{"CLOUDCOURT_SFU_WORKERS": "0"}`` and
says why (a run may set it in its environment to compare the two). ``.child_pids()`` lists the
server's processes (workers, sidecars, ffmpeg), ``.worker_pids()`` its SFU workers, and
``stop()`` fails if one of them outlives the server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import psutil


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(
        self,
        data_dir: Path | str,
        port: int,
        env: dict[str, str] | None = None,
        # `serve` itself waits up to 30 s for its worker and sidecar processes before it listens.
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        given = dict(env or {})
        # CLOUDCOURT_ADMIN_KEY="" asks for the server's own key (generated into the data dir).
        self._generated_key = given.get("CLOUDCOURT_ADMIN_KEY") == ""
        self.admin_key = given.get("CLOUDCOURT_ADMIN_KEY") or secrets.token_urlsafe(24)
        self.env = {
            # The served path, unless the test (or the run: CLOUDCOURT_SFU_WORKERS=0 scripts/test
            # ..., to compare with the in-process SFU) asks otherwise.
            "CLOUDCOURT_SFU_WORKERS": "1",
            **os.environ,
            "CLOUDCOURT_ICE_LOOPBACK": "1",
            "PYTHONUNBUFFERED": "1",
            **given,
            "CLOUDCOURT_ADMIN_KEY": self.admin_key,
        }
        if self._generated_key:
            del self.env["CLOUDCOURT_ADMIN_KEY"]
        for name in ("REDIS_URL", "CLOUDCOURT_PUBLIC_URL", "CLOUDCOURT_ICE_SERVERS"):
            if name not in given:
                self.env.pop(name, None)  # the embedded, loopback-only default
        # Known once the server has started (it may generate it into the data dir).
        self.jwt_secret: str | None = given.get("CLOUDCOURT_JWT_SECRET")
        self.startup_timeout = startup_timeout
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Its processes as seen when it became healthy: a server killed by a test cannot be
        # asked for its children any more, and they must not outlive it either.
        self._started_children: list[psutil.Process] = []
        self.starts = 0
        self._log: Any = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "signaling",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]

    def child_pids(self) -> list[int]:
        """The server's descendants now (SFU workers, sidecars, their ffmpeg)."""
        return [c.pid for c in self._children()]

    def _children(self) -> list[psutil.Process]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.proc.pid).children(recursive=True)
        return []

    def worker_pids(self) -> list[int]:
        """The server's SFU worker processes (they hold its media sockets)."""
        pids = []
        for pid in self.child_pids():
            with contextlib.suppress(psutil.NoSuchProcess):
                if "sfu.worker_process" in psutil.Process(pid).cmdline():
                    pids.append(pid)
        return pids

    def start(self) -> ServerProcess:
        self._log = open(self.log_path, "ab")  # closed in stop()
        self._log.write(f"\n===== start #{self.starts + 1} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.command(),
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1
        self._wait_healthy()
        self._started_children = self._children()
        if self.jwt_secret is None:
            self.jwt_secret = (self.data_dir / "jwt.key").read_text().strip()
        if self._generated_key:
            self.admin_key = (self.data_dir / "admin.key").read_text().strip()
        return self

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError) as e:
                last = e
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"server not healthy within {self.startup_timeout}s ({last}):\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (SIGKILL after ``timeout``); the exit status. Raises if a child of the server
        is still running once it has gone (after killing it, so nothing leaks into later tests)."""
        rc = None
        children = {c.pid: c for c in [*self._started_children, *self._children()]}
        self._started_children = []
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            rc = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        self._check_orphans(list(children.values()))
        return rc

    def _check_orphans(self, children: list[psutil.Process]) -> None:
        # A worker sees its channel end and exits by itself (closing its rooms takes at most 5 s).
        _, alive = psutil.wait_procs(children, timeout=6)
        if not alive:
            return
        left = []
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                left.append(f"{child.pid} {' '.join(child.cmdline())}")
                child.kill()
        if left:
            raise AssertionError("processes of the server outlived it:\n" + "\n".join(left))

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def make_token(self, **claims: Any) -> str:
        """Sign ``claims`` with this server's JWT key (HS256), as the server would."""
        assert self.jwt_secret, "the server has not started yet"
        return jwt.encode(claims, self.jwt_secret.encode(), algorithm="HS256")

    def participant_token(
        self, hearing_id: str, participant_id: str, role: str, jti: str, expires_in: float
    ) -> str:
        """A token as the server issues them for that participant, expiring in ``expires_in``
        seconds (negative: already expired)."""
        now = int(time.time())
        return self.make_token(
            iss="cloudcourt",
            sub=participant_id,
            hearing=hearing_id,
            role=role,
            iat=now - 7200,
            exp=int(now + expires_in),
            jti=jti,
        )

    def expired_token(self, hearing_id: str, participant_id: str, role: str, jti: str) -> str:
        """A token as the server issues them for that participant, but expired an hour ago."""
        return self.participant_token(hearing_id, participant_id, role, jti, expires_in=-3600)


def start_server(
    data_dir: Path | str, port: int | None = None, env: dict[str, str] | None = None
) -> ServerProcess:
    return ServerProcess(data_dir, port or free_port(), env).start()
