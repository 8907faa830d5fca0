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
SELECT id, case_number, kind, scheduled_at, state FROM hearings
WHERE state != 'ended' AND (
    id IN (SELECT hearing_id FROM session_seats WHERE site_id = ?)
    OR dispute_id IN (SELECT id FROM disputes WHERE intake_site_id = ?)
)
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
        return conn.execute(_QUERY, (site_id, site_id)).fetchall()

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
                    },
                )
            )
    return [item for _, item in sorted(found, key=lambda pair: (pair[0], pair[1]["id"]))]
