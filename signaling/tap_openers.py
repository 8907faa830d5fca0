"""How a sidecar in the control plane's process opens a publication's tap, for either pool.

An in-process SFU (`LocalPool`) hands over its queue-backed `sfu.Tap`; a worker process
(`WorkerPool`) sends the publication as plain RTP/RTCP to a UDP port this process bound
(`sfu.plain.UdpTapSource`), described by the SDP the worker answers `tap.open` with. Either way
the sidecar gets an `sfu.tap.MediaSource` and reads it the same way (docs/SFU.md, "Taps").
"""

from __future__ import annotations

from collections.abc import Callable

from sfu import PublicationInfo, SfuError
from sfu.plain import LOCALHOST, UdpTapSource
from sfu.tap import MediaSource, OpenTap, TapEntry, TapInfo
from signaling.workers import LocalPool, Pool, WorkerPool


def opener(pool: Pool) -> OpenTap:
    """The `OpenTap` of in-process sidecars for ``pool``."""
    if isinstance(pool, LocalPool):
        return _local(pool)
    if isinstance(pool, WorkerPool):
        return _remote(pool)
    raise TypeError(f"no tap opener for {type(pool).__name__}")


def _local(pool: LocalPool) -> OpenTap:
    async def open_tap(hearing_id: str, publication: PublicationInfo) -> MediaSource:
        room = pool.worker.get_room(hearing_id)
        if room is None:
            raise SfuError(f"hearing {hearing_id} has no media now")
        return room.tap(publication.id)

    return open_tap


def _remote(pool: WorkerPool) -> OpenTap:
    async def open_tap(hearing_id: str, publication: PublicationInfo) -> MediaSource:
        source = await UdpTapSource.bind()
        try:
            reply = await pool.open_tap(hearing_id, publication.id, LOCALHOST, source.port)
            source.describe(str(reply["sdp"]))
        except BaseException:
            source.close()
            raise
        return WorkerTap(source, lambda: pool.close_tap(hearing_id, str(reply["tap"])))

    return open_tap


class WorkerTap:
    """A worker's plain tap read here: closing it also tells the worker to stop sending (the
    source alone would only stop listening)."""

    def __init__(self, source: UdpTapSource, close_remote: Callable[[], None]) -> None:
        self.source = source
        self.info: TapInfo = source.info
        self._close_remote: Callable[[], None] | None = close_remote

    async def get(self) -> TapEntry | None:
        return await self.source.get()

    def request_keyframe(self) -> None:
        self.source.request_keyframe()

    def close(self) -> None:
        self.source.close()
        if self._close_remote is not None:
            close_remote, self._close_remote = self._close_remote, None
            close_remote()
