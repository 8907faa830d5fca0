"""The time limits table (signaling/time_limits.py): working days skip weekends and the given
holidays, the start day is not counted, a period ends at 24:00 court time, a 30-day period
ending on a rest day runs to the next working day; statuses running/met/overdue/ended."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from signaling.disputes import (
    Dispute,
    DisputeState,
    DisputeType,
    Handler,
    HandlerLevel,
    MediatorStatus,
)
from signaling.time_limits import TimeLimits

SHANGHAI = ZoneInfo("Asia/Shanghai")
LIMITS = TimeLimits(SHANGHAI)


def dispute(received_at: str, **changes: object) -> Dispute:
    d = Dispute(
        id="d_x",
        number="n",
        intake_site_id="s_a",
        type=DisputeType.FAMILY,
        summary="s",
        state=DisputeState.SITE_MEDIATION,
        handler=Handler(HandlerLevel.SITE, "s_a"),
        mediator_id=None,
        judge_id=None,
        parties=(),
        received_at=received_at,
        created_at=received_at,
        updated_at=received_at,
    )
    return replace(d, **changes)  # type: ignore[arg-type]


def test_three_working_days_skip_the_weekend_and_end_at_midnight_court_time() -> None:
    # Thursday 2026-03-05 10:00 Beijing: Fri, Mon, Tue → due at Wed 00:00 Beijing.
    due = LIMITS.due("2026-03-05T02:00:00+00:00", 3, True)
    assert due == "2026-03-10T16:00:00+00:00"  # Tue 10 March 24:00 +08:00
    # 23:30 on a Friday in Beijing (still 15:30 in UTC) is that Friday, not counted:
    # Mon, Tue, Wed.
    assert LIMITS.due("2026-03-06T15:30:00+00:00", 3, True) == "2026-03-11T16:00:00+00:00"
    # 00:30 on a Friday in Beijing (Thursday in UTC) is that Friday: Mon, Tue, Wed (counted
    # in UTC it would be Thursday's: Fri, Mon, Tue).
    assert LIMITS.due("2026-03-05T16:30:00+00:00", 3, True) == "2026-03-11T16:00:00+00:00"


def test_holidays_are_not_working_days() -> None:
    limits = TimeLimits(SHANGHAI, frozenset({date(2026, 3, 9)}))
    assert limits.due("2026-03-05T02:00:00+00:00", 3, True) == "2026-03-11T16:00:00+00:00"


def test_thirty_days_ending_on_a_weekend_run_to_monday() -> None:
    # 2026-01-03 + 30 days = Monday 2 Feb: unchanged; 2026-01-01 + 30 = Saturday 31 Jan → Mon.
    assert LIMITS.due("2026-01-03T02:00:00+00:00", 30, False) == "2026-02-02T16:00:00+00:00"
    assert LIMITS.due("2026-01-01T02:00:00+00:00", 30, False) == "2026-02-02T16:00:00+00:00"


def test_statuses() -> None:
    now = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)
    old = dispute("2026-03-02T02:00:00+00:00")
    status = {d.limit: d.status for d in LIMITS.deadlines(old, now)}
    assert status == {"mediator_appointment": "overdue", "mediation_conclusion": "running"}
    appointed = replace(
        old,
        mediator_id="a_m",
        mediator_status=MediatorStatus.APPOINTED,
        mediator_appointed_at="2026-03-19T02:00:00+00:00",
    )
    got = {d.limit: d for d in LIMITS.deadlines(appointed, now)}
    assert got["mediator_appointment"].status == "met"
    assert got["mediator_appointment"].to_json()["late"] is True
    assert got["mediator_answer"].status == "running"
    ended = replace(
        old, state=DisputeState.MEDIATED, mediation_ended_at="2026-03-10T02:00:00+00:00"
    )
    status = {d.limit: d.status for d in LIMITS.deadlines(ended, now)}
    assert status == {"mediator_appointment": "ended", "mediation_conclusion": "met"}
    assert LIMITS.overdue(ended, now) == []
    declined = replace(
        appointed,
        mediator_status=MediatorStatus.DECLINED,
        mediator_answered_at="2026-03-19T03:00:00+00:00",
    )
    got = {d.limit: d for d in LIMITS.deadlines(declined, now)}
    # A new mediator is due 3 working days after the decline.
    assert got["mediator_appointment"].status == "running"
    assert got["mediator_appointment"].due_at == "2026-03-24T16:00:00+00:00"
