"""The court's clock: the wall time burnt into the public stream and the composite archive.

Both show the court's own time zone (CLOUDCOURT_TIMEZONE), labelled, whatever zone the server's
machine runs in: a hearing's record states when things happened in the court's legal time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"
# Beijing time is what Chinese courts and their public call the time of the whole mainland; the
# other names are tzdata's aliases of the same zone.
BEIJING_ZONES = frozenset(
    {"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"}
)
BEIJING_LABEL = "北京时间"
CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError saying so if there is none such."""
    try:
        return ZoneInfo(name)
    # OSError: a name that is a directory of the zone database ("America") or unreadable.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"CLOUDCOURT_TIMEZONE must be an IANA time zone name such as {DEFAULT_TIMEZONE}, "
            f"not {name[:64]!r}"
        ) from None


@dataclass(frozen=True)
class CourtClock:
    zone: ZoneInfo

    @classmethod
    def named(cls, name: str = DEFAULT_TIMEZONE) -> CourtClock:
        return cls(zone(name))

    def offset(self, epoch: float) -> timedelta:
        """The zone's offset from UTC at ``epoch`` (Unix seconds)."""
        offset = datetime.fromtimestamp(epoch, self.zone).utcoffset()
        assert offset is not None  # a ZoneInfo always has one
        return offset

    def label(self, epoch: float) -> str:
        """北京时间, or 当地时间 with the offset from UTC in force at ``epoch``: a zone's name
        means little to a reader of the record, its offset says exactly which time it is."""
        if self.zone.key in BEIJING_ZONES:
            return BEIJING_LABEL
        minutes = int(self.offset(epoch).total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        return f"当地时间 UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def reading(self, epoch: float | None = None) -> tuple[str, str]:
        """(label, "2026-11-22 09:30:05") at ``epoch``, now if None."""
        epoch = time.time() if epoch is None else epoch
        return self.label(epoch), datetime.fromtimestamp(epoch, self.zone).strftime(CLOCK_FORMAT)
