"""The public catalog: which public hearings are live, coming up or on demand, filtered and paged.

Only public hearings are ever considered. An ended hearing appears only once its on-demand stream
exists; a hearing not yet ended is "live" while its stream has public segments, else "upcoming".
Dates without a time are days in China Standard Time (UTC+8), the courts' own calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from livestream.disk_state import StreamState
from livestream.subjects import ENDED, StreamedHearing

STATUSES = ("live", "upcoming", "vod")
COURT_TIME = timezone(timedelta(hours=8), "CST")
MAX_LIMIT = 100


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    court: str | None = None
    case_type: str | None = None
    date_from: datetime | None = None  # inclusive
    date_to: datetime | None = None  # exclusive
    q: str | None = None
    limit: int = 20
    offset: int = 0


def parse_day(text: str, *, end: bool) -> datetime:
    """A catalog date bound: ``YYYY-MM-DD`` (a whole court day; ``end`` = the day after it
    starts) or an ISO 8601 date-time with an offset. ValueError if it is neither."""
    if len(text) == 10:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=COURT_TIME)
        if not end:
            return day
        try:
            return day + timedelta(days=1)
        except OverflowError:  # 9999-12-31 has no day after it: no bound at all
            return datetime.max.replace(tzinfo=COURT_TIME)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a date-time needs an offset")
    return moment


def status_of(hearing: StreamedHearing, stream: StreamState) -> str | None:
    if not hearing.public:
        return None
    if stream.status is not None:
        return stream.status
    return "upcoming" if hearing.state != ENDED else None


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matches(hearing: StreamedHearing, status: str, f: Filters) -> bool:
    if f.status is not None and status != f.status:
        return False
    if f.court is not None and hearing.court != f.court:
        return False
    if f.case_type is not None and hearing.case_type != f.case_type:
        return False
    if f.date_from is not None or f.date_to is not None:
        when = _moment(hearing.scheduled_at)
        if when is None:
            return False
        if f.date_from is not None and when < f.date_from:
            return False
        if f.date_to is not None and when >= f.date_to:
            return False
    if f.q:
        needle = f.q.casefold()
        if not any(
            needle in v.casefold() for v in (hearing.case_number, hearing.title, hearing.court)
        ):
            return False
    return True


def item(hearing: StreamedHearing, status: str, stream: StreamState) -> dict[str, Any]:
    prefix = {"live": "/live", "vod": "/vod"}.get(status)
    started, ended = _moment(hearing.started_at), _moment(hearing.ended_at)
    if status in ("live", "vod"):
        duration: float | None = round(stream.duration, 1)
    elif started and ended:
        duration = round((ended - started).total_seconds(), 1)
    else:
        duration = None
    # The hearing's own fields as the API shows them everywhere (scheduled_at in UTC).
    shown = hearing.to_json()
    return {
        **{k: shown[k] for k in ("id", "case_number", "title", "court", "case_type")},
        "status": status,
        **{k: shown[k] for k in ("scheduled_at", "started_at", "ended_at")},
        "duration": duration,
        "playlist_url": f"{prefix}/{hearing.id}/index.m3u8" if prefix else None,
        "poster_url": f"{prefix}/{hearing.id}/poster.jpg" if prefix and stream.poster else None,
    }


def _order(entry: tuple[StreamedHearing, str, StreamState]) -> tuple[Any, ...]:
    hearing, status, _ = entry
    when = _moment(hearing.scheduled_at) or datetime.max.replace(tzinfo=UTC)
    if status == "vod":  # latest first
        ended = _moment(hearing.ended_at) or when
        return (2, -ended.timestamp(), hearing.id)
    return (STATUSES.index(status), when.timestamp(), hearing.id)


def select(
    hearings: Sequence[StreamedHearing], stream_of: Callable[[str], StreamState], f: Filters
) -> dict[str, Any]:
    found = []
    for hearing in hearings:
        if not hearing.public:
            continue  # closed hearings never reach the public, whatever the filters
        stream = stream_of(hearing.id)
        status = status_of(hearing, stream)
        if status is not None and _matches(hearing, status, f):
            found.append((hearing, status, stream))
    found.sort(key=_order)
    page = found[f.offset : f.offset + f.limit]
    return {"items": [item(*entry) for entry in page], "total": len(found)}
