"""What the kiosk shows under the site's name: the site's sessions and hearings scheduled for
today (the court's day, CLOUDCOURT_TIMEZONE), not ended.

"The site's" means a mediation session with a seat for this site's kiosk (schema step 7,
session_seats.site_id), or a session or hearing held for a dispute taken in at this site (step 5,
disputes.intake_site_id). Read straight from those tables in one query: the kiosk asks every
15 s, and the two other parts' services would cost a lookup per dispute. Only what a shared screen
in a public room may show: the number, the kind, the time, the state — not the title, which
names the parties.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from livestream.clock import zone
from signaling.store import SqliteStore

_QUERY = """
SELECT id, case_number, kind, scheduled_at, state,
    EXISTS (
        SELECT 1 FROM session_seats AS k JOIN participants AS p ON p.id = k.participant_id
        WHERE k.hearing_id = hearings.id AND k.site_id = ? AND k.seat = 'kiosk' AND p.revoked = 0
    ) AS kiosk_seat
FROM hearings
WHERE state != 'ended' AND (
    id IN (SELECT hearing_id FROM session_seats WHERE site_id = ?)
    OR dispute_id IN (SELECT id FROM disputes WHERE intake_site_id = ?)
)
"""
# The kiosk's own seat in a session of its site: the participant a token is minted for when the
# kiosk joins (the officer got one token at the session's creation; the kiosk takes its own).
_SEAT = """
SELECT k.participant_id, h.state FROM session_seats AS k
JOIN participants AS p ON p.id = k.participant_id JOIN hearings AS h ON h.id = k.hearing_id
WHERE k.hearing_id = ? AND k.site_id = ? AND k.seat = 'kiosk' AND p.revoked = 0
"""


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def todays_hearings(
    store: SqliteStore, site_id: str, timezone: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    tz = zone(timezone)
    local = (now or datetime.now(UTC)).astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)

    def query(conn: sqlite3.Connection) -> list[sqlite3.Row]:
        return conn.execute(_QUERY, (site_id, site_id, site_id)).fetchall()

    found = []
    for row in await store.run(query):
        moment = _moment(row["scheduled_at"])
        if moment is not None and start <= moment < end:
            found.append(
                (
                    moment,
                    {
                        "id": row["id"],
                        "case_number": row["case_number"],
                        "kind": row["kind"],
                        "scheduled_at": row["scheduled_at"],
                        "state": row["state"],
                        "kiosk_seat": bool(row["kiosk_seat"]),
                    },
                )
            )
    return [item for _, item in sorted(found, key=lambda pair: (pair[0], pair[1]["id"]))]


async def kiosk_seat(store: SqliteStore, hearing_id: str, site_id: str) -> tuple[str, str] | None:
    """(participant id, hearing state) of the site's kiosk seat in that session, if it has one."""

    def query(conn: sqlite3.Connection) -> tuple[str, str] | None:
        row = conn.execute(_SEAT, (hearing_id, site_id)).fetchone()
        return (row["participant_id"], row["state"]) if row else None

    return await store.run(query)
