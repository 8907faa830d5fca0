"""Reception statistics of one incoming stream, as RFC 3550 appendix A.1/A.3/A.8 computes them."""

from __future__ import annotations

import time

from sfu.rtcp import RtcpReceiverInfo, middle_32


class ReceiveStats:
    def __init__(self, clock_rate: int) -> None:
        self.clock_rate = clock_rate
        self.received = 0
        self.octets = 0
        self._base_seq = -1
        self._max_seq = 0
        self._cycles = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._transit = 0.0
        self.jitter = 0.0
        self.last_sr_ntp = 0
        self.last_sr_arrival = 0.0

    def update(self, seq: int, timestamp: int, size: int, arrival: float) -> int:
        """Count a packet; returns how many packets are missing right before it (0 if none)."""
        self.received += 1
        self.octets += size
        transit = arrival * self.clock_rate - timestamp
        if self._base_seq < 0:
            self._base_seq = self._max_seq = seq
            self._transit = transit
            return 0
        d = abs(transit - self._transit)
        self._transit = transit
        self.jitter += (d - self.jitter) / 16
        delta = (seq - self._max_seq) & 0xFFFF
        if 0 < delta < 0x8000:
            if seq < self._max_seq:
                self._cycles += 0x10000
            self._max_seq = seq
            return delta - 1
        return 0

    @property
    def extended_max(self) -> int:
        return self._cycles + self._max_seq

    @property
    def lost(self) -> int:
        if self._base_seq < 0:
            return 0
        return max(0, self.extended_max - self._base_seq + 1 - self.received)

    def on_sender_report(self, ntp: int) -> None:
        self.last_sr_ntp = ntp
        self.last_sr_arrival = time.monotonic()

    def report(self, ssrc: int) -> RtcpReceiverInfo:
        """A report block for an RR; resets the interval counters behind 'fraction lost'."""
        expected = self.extended_max - self._base_seq + 1 if self._base_seq >= 0 else 0
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior, self._received_prior = expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if self.last_sr_ntp:
            dlsr = int((time.monotonic() - self.last_sr_arrival) * 65536)
        return RtcpReceiverInfo(
            ssrc=ssrc,
            fraction_lost=fraction,
            packets_lost=min(self.lost, 0x7FFFFF),
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=min(int(self.jitter), 0xFFFFFFFF),
            lsr=middle_32(self.last_sr_ntp) if self.last_sr_ntp else 0,
            dlsr=dlsr,
        )
