"""Put RTP packets back in sequence order before they are joined into frames.

UDP may swap neighbouring packets; the SFU forwards them as they come, but a file needs them in
order. Packets wait here until the gap before them fills, at most `max_wait` seconds or
`max_held` packets: then the missing ones are given up on (the SFU has already NACKed them) and
the reader is told of the loss.
"""

from __future__ import annotations

from collections.abc import Iterator

from sfu.rtp import Incoming

Released = tuple[Incoming, float, bool]  # (packet, arrival, packets were lost just before it)


class ReorderBuffer:
    def __init__(self, max_held: int = 64, max_wait: float = 0.15) -> None:
        self.max_held = max_held
        self.max_wait = max_wait
        self._next: int | None = None  # extended sequence number expected next
        self._held: dict[int, tuple[Incoming, float]] = {}
        self._highest: int | None = None
        self.lost = 0

    def _extend(self, seq: int) -> int:
        # 16-bit sequence numbers wrap every ~30 s of video at 2 Mbit/s: count from the highest
        # seen, by the signed distance to it.
        if self._highest is None:
            self._highest = seq
            return seq
        delta = ((seq - self._highest + 0x8000) & 0xFFFF) - 0x8000
        ext = self._highest + delta
        self._highest = max(self._highest, ext)
        return ext

    def push(self, packet: Incoming, arrival: float) -> Iterator[Released]:
        ext = self._extend(packet.seq)
        if self._next is None:
            self._next = ext
        if ext < self._next or ext in self._held:
            return  # a duplicate (retransmission) or too late to be used
        self._held[ext] = (packet, arrival)
        yield from self._release(arrival)

    def _release(self, now: float) -> Iterator[Released]:
        assert self._next is not None
        lost = False
        while self._held:
            item = self._held.pop(self._next, None)
            if item is None:
                oldest = min(self._held)
                if len(self._held) < self.max_held and now - self._held[oldest][1] < self.max_wait:
                    return
                self.lost += oldest - self._next
                self._next = oldest
                lost = True
                continue
            self._next += 1
            yield item[0], item[1], lost
            lost = False

    def flush(self, now: float) -> Iterator[Released]:
        """Give up on gaps that have waited too long (called when no packet comes)."""
        if self._held:
            yield from self._release(now)
