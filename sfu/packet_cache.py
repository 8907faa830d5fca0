"""Recently received packets of one publication, so subscriber NACKs can be answered."""

from __future__ import annotations

from sfu.rtp import Incoming


class PacketCache:
    """A ring indexed by sequence number: O(1) put and get, no per-packet allocation."""

    def __init__(self, size: int) -> None:
        if size & (size - 1):
            raise ValueError("cache size must be a power of two")
        self._mask = size - 1
        self._ring: list[Incoming | None] = [None] * size

    def put(self, packet: Incoming) -> None:
        self._ring[packet.seq & self._mask] = packet

    def get(self, seq: int) -> Incoming | None:
        packet = self._ring[seq & self._mask]
        return packet if packet is not None and packet.seq == seq else None
