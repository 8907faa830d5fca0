"""A real server whose recordings live on a real, small filesystem that a test can fill.

The server runs in its own mount namespace (`unshare -m`; the tests run as root) with a tmpfs of
a few MB mounted on `<data-dir>/recordings`, so the recorder meets a genuine ENOSPC from the
kernel — not a permission trick, which root ignores. Nobody else sees the mount; it disappears
with the server. The test reaches it through `/proc/<pid>/root`, the server's view of the files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tests.signaling_server import ServerProcess, free_port

FILLER = "filler.bin"


class SmallDiskServer(ServerProcess):
    def __init__(self, data_dir: Path, size_mb: int, env: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, free_port(), env)
        self.size_mb = size_mb

    def command(self) -> list[str]:
        mount = (
            'mkdir -p "$1" && mount -t tmpfs -o size="$2"m,mode=0700 cloudcourt-small "$1" '
            '&& shift 2 && exec "$@"'
        )
        recordings = str(self.data_dir / "recordings")
        # unshare and sh exec in turn: the server keeps the pid this process starts.
        return [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            mount,
            "sh",
            recordings,
            str(self.size_mb),
            *super().command(),
        ]

    @property
    def recordings(self) -> Path:
        """`<data-dir>/recordings` as the server sees it (on the small filesystem)."""
        return Path(f"/proc/{self.pid}/root") / str(self.data_dir).lstrip("/") / "recordings"

    @property
    def data_dir_view(self) -> Path:
        """The data directory as the server sees it, e.g. for `cloudcourt verify --data-dir`."""
        return self.recordings.parent

    def fill(self) -> int:
        """Fill the small filesystem to the last byte; returns the bytes written."""
        fd = os.open(self.recordings / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        written = 0
        chunk = b"\0" * 65536
        try:
            while True:
                try:
                    written += os.write(fd, chunk)
                except OSError:  # ENOSPC: now try ever smaller writes for the last pages
                    if len(chunk) == 1:
                        return written
                    chunk = chunk[: len(chunk) // 2]
        finally:
            os.close(fd)

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.recordings / FILLER).unlink()

    def free_bytes(self) -> int:
        stat = os.statvfs(self.recordings)
        return stat.f_bavail * stat.f_frsize
