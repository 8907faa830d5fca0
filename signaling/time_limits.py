"""The time limits of a dispute's mediation (a documented table, docs/DISPUTES.md), each with
its due moment and whether it is met, running, overdue, or no longer running.

| limit                | from                              | within         | rule                 |
| -------------------- | --------------------------------- | -------------- | -------------------- |
| mediator_appointment | intake (received_at), or decline  | 3 working days | SPC 2021 Arts. 10–15 |
| mediator_answer      | the appointment                   | 3 working days | SPC 2021 Arts. 10–15 |
| mediation_conclusion | intake (received_at)              | 30 days        | SPC 2021 Art. 24     |

Days are counted as the Civil Procedure Law counts a period (Art. 85): the day it starts from
is not counted, and a period ends at 24:00 (the court's time zone) of its last day; a period of
days whose last day is not a working day ends on the next working day. Working days are Monday
to Friday except the public holidays given (``holidays``; empty unless configured).
A limit stops running when the mediation ends (mediated or failed) unmet: it is then "ended",
never overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from signaling.disputes import MEDIATING, Dispute, DisputeState, MediatorStatus

Status = Literal["running", "met", "overdue", "ended"]


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    label: str  # zh-CN, for the pages
    rule: str  # the court rule it implements
    days: int
    working_days: bool
    # When the limit starts running for this dispute (None: it does not apply, or not yet).
    start: Callable[[Dispute], str | None]
    # When it was met (None: not yet).
    met: Callable[[Dispute], str | None]


def _appointment_start(d: Dispute) -> str | None:
    if d.mediator_status is MediatorStatus.DECLINED:
        return d.mediator_answered_at  # a new mediator is due after a decline
    return d.received_at


def _appointment_met(d: Dispute) -> str | None:
    if d.mediator_status in (MediatorStatus.APPOINTED, MediatorStatus.ACCEPTED):
        return d.mediator_appointed_at
    return None


def _answer_start(d: Dispute) -> str | None:
    return d.mediator_appointed_at if d.mediator_status is not None else None


def _answer_met(d: Dispute) -> str | None:
    if d.mediator_status in (MediatorStatus.ACCEPTED, MediatorStatus.DECLINED):
        return d.mediator_answered_at
    return None


LIMITS: tuple[Limit, ...] = (
    Limit(
        "mediator_appointment",
        "指派调解员（3个工作日内）",
        "SPC online mediation rules 2021, Arts. 10–15",
        3,
        True,
        _appointment_start,
        _appointment_met,
    ),
    Limit(
        "mediator_answer",
        "调解员接受或拒绝指派（3个工作日内）",
        "SPC online mediation rules 2021, Arts. 10–15",
        3,
        True,
        _answer_start,
        _answer_met,
    ),
    Limit(
        "mediation_conclusion",
        "调解期限（30日内）",
        "SPC online mediation rules 2021, Art. 24",
        30,
        False,
        lambda d: d.received_at,
        lambda d: d.mediation_ended_at,
    ),
)


@dataclass(frozen=True, slots=True)
class Deadline:
    limit: str
    label: str
    rule: str
    due_at: str
    met_at: str | None
    status: Status

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "label": self.label,
            "rule": self.rule,
            "due_at": self.due_at,
            "met_at": self.met_at,
            "status": self.status,
            "late": self.met_at is not None and _utc(self.met_at) > _utc(self.due_at),
        }


class TimeLimits:
    def __init__(self, zone: ZoneInfo, holidays: frozenset[date] = frozenset()) -> None:
        self.zone = zone
        self.holidays = holidays

    def working(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def due(self, start: str, days: int, working_days: bool) -> str:
        """24:00 court time of the period's last day, as UTC ISO 8601."""
        day = datetime.fromisoformat(start).astimezone(self.zone).date()
        if working_days:
            left = days
            while left:
                day += timedelta(days=1)
                if self.working(day):
                    left -= 1
        else:
            day += timedelta(days=days)
            while not self.working(day):
                day += timedelta(days=1)
        end = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return end.astimezone(UTC).isoformat(timespec="seconds")

    def deadlines(self, dispute: Dispute, now: datetime | None = None) -> list[Deadline]:
        now_iso = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        # Still mediating: the limits run. A dispute that left mediation without meeting a
        # limit (mediated without an appointed mediator, say) has it "ended".
        running = dispute.state in MEDIATING or dispute.state is DisputeState.INTAKE
        found = []
        for limit in LIMITS:
            start = limit.start(dispute)
            if start is None:
                continue
            due_at = self.due(start, limit.days, limit.working_days)
            met_at = limit.met(dispute)
            status: Status
            if met_at is not None:
                status = "met"
            elif not running:
                status = "ended"
            elif _utc(now_iso) > _utc(due_at):
                status = "overdue"
            else:
                status = "running"
            found.append(Deadline(limit.name, limit.label, limit.rule, due_at, met_at, status))
        return found

    def overdue(self, dispute: Dispute, now: datetime | None = None) -> list[Deadline]:
        return [d for d in self.deadlines(dispute, now) if d.status == "overdue"]


def _utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)
