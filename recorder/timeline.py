"""Every track of a hearing on one timeline: RTP timestamps → wall-clock seconds.

Each track's RTP clock starts at a random value, and tracks start at different times. RTCP sender
reports tie a track's RTP clock to its publisher's NTP clock; a publisher's audio and video share
that NTP clock, which is what keeps lips in sync. The publisher's NTP clock is not ours, so each
publisher gets one offset (our wall clock − its NTP clock), first measured when its first report
arrives and shared by all its tracks.

That offset is not constant: the publisher's clock drifts against ours (tens of ppm: ~0.5 s over
a 3-hour hearing at 50 ppm), and the first report may have been delayed on the way. Every report
is a new measurement (arrival − sent = offset + this report's network delay); the smallest one of
the last minute is the least delayed, and the offset follows it by at most 2 ms per report, so
the timeline tracks drift without steps that would tear lips from voices (audio and video are
re-anchored one after the other, each with the shared offset).

Writing does not wait for a report: until a track has one, its frames are placed by the arrival
time of its first frame plus the RTP clock since then. Reports usually come within a second or
two; from then on the report's mapping is used (any step it makes is a few milliseconds: both
are anchored to arrival at this server).
"""

from __future__ import annotations

import time
from collections import deque

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)

# time.monotonic() (what the SFU stamps arrivals with) → time.time(), fixed once per process so
# that a wall-clock step (NTP slew, an operator's `date`) cannot tear the timeline apart.
MONO_TO_WALL = time.time() - time.monotonic()


def ntp_seconds(ntp: int) -> float:
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / 2**32


WINDOW = 60.0  # s of reports whose least delayed one the offset follows
MAX_STEP = 0.002  # s the offset may move per report


class PublisherClock:
    """One publisher's NTP clock relative to ours, shared by its audio and video."""

    def __init__(self) -> None:
        self.offset: float | None = None  # our wall seconds − publisher's NTP seconds
        self._samples: deque[tuple[float, float]] = deque()  # (arrival, arrival − sent)

    def report(self, sent: float, arrival_wall: float) -> float:
        """A sender report sent at ``sent`` (its NTP seconds) arrived at ``arrival_wall``; the
        offset to use from now on."""
        sample = arrival_wall - sent
        samples = self._samples
        while samples and samples[0][0] < arrival_wall - WINDOW:
            samples.popleft()
        while samples and samples[-1][1] >= sample:
            samples.pop()  # never again the minimum: a smaller, newer one is here
        samples.append((arrival_wall, sample))
        target = samples[0][1]
        if self.offset is None:
            self.offset = target
        else:
            self.offset += max(-MAX_STEP, min(MAX_STEP, target - self.offset))
        return self.offset


class TrackTimeline:
    def __init__(self, clock_rate: int, publisher: PublisherClock) -> None:
        self.rate = clock_rate
        self.publisher = publisher
        self._last: int | None = None  # last timestamp seen (32 bits) and its extension
        self._extended = 0
        self._anchor: tuple[int, float] | None = None  # (extended RTP ts, wall seconds)
        self.synced = False  # placed by a sender report

    def _extend(self, timestamp: int) -> int:
        if self._last is None:
            self._extended = timestamp
        else:
            delta = ((timestamp - self._last + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            self._extended += delta
        self._last = timestamp
        return self._extended

    def sender_report(self, ntp: int, rtp_timestamp: int, arrival: float) -> None:
        sent = ntp_seconds(ntp)
        offset = self.publisher.report(sent, arrival + MONO_TO_WALL)
        if self._last is None:
            return  # placed once its first frame comes (a report before any media is rare)
        delta = ((rtp_timestamp - self._last + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        self._anchor = (self._extended + delta, sent + offset)
        self.synced = True

    def wall(self, timestamp: int, arrival: float) -> float:
        """Wall-clock seconds of a frame with this RTP timestamp that arrived at ``arrival``."""
        extended = self._extend(timestamp)
        if self._anchor is None:
            self._anchor = (extended, arrival + MONO_TO_WALL)
        anchor_ts, anchor_wall = self._anchor
        return anchor_wall + (extended - anchor_ts) / self.rate
