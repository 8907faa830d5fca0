"""What-if patches for the benchmark's own SFU worker processes: they measure a change proposed
for `sfu/` before anyone makes it (`--experiment NAME`). Never applied by default, never in
`cloudcourt serve`.
"""

from __future__ import annotations

from asyncio import selector_events
from collections.abc import Callable
from typing import Any

DRAIN_LIMIT = 64


def drain_reads() -> None:
    """Read every queued datagram of a readable UDP socket (up to 64), not just one.

    asyncio's datagram transport does one `recvfrom` per readiness event, so a publisher's socket
    yields one packet per event-loop iteration, however long the fan-out of everything else in
    that iteration took: a keyframe's burst of packets waits many iterations in the kernel buffer.
    """

    def _read_ready(self: Any) -> None:
        for _ in range(DRAIN_LIMIT):
            if self._conn_lost:
                return
            try:
                data, addr = self._sock.recvfrom(self.max_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            self._protocol.datagram_received(data, addr)

    selector_events._SelectorDatagramTransport._read_ready = _read_ready  # type: ignore[attr-defined]


EXPERIMENTS: dict[str, Callable[[], None]] = {"drain-reads": drain_reads}
