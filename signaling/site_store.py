"""The SQL of sites (schema step 4, signaling/migrations/sites.py), on the shared SqliteStore's
thread. A site's lists are JSON arrays in a column each."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from signaling.sites import GridMember, Site, SiteKind
from signaling.store import SqliteStore


def _site(row: sqlite3.Row) -> Site:
    return Site(
        id=row["id"],
        kind=SiteKind(row["kind"]),
        name=row["name"],
        county=row["county"],
        township=row["township"],
        village=row["village"],
        address=row["address"],
        liaison_judge_id=row["liaison_judge_id"],
        officer_id=row["officer_id"],
        mediator_ids=tuple(json.loads(row["mediator_ids"])),
        grid_members=tuple(GridMember(**g) for g in json.loads(row["grid_members"])),
        equipment=tuple(json.loads(row["equipment"])),
        trades=tuple(json.loads(row["trades"])),
        retired_at=row["retired_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _values(site: Site) -> tuple[Any, ...]:
    return (
        site.kind.value,
        site.name,
        site.county,
        site.township,
        site.village,
        site.address,
        site.liaison_judge_id,
        site.officer_id,
        _dumps(list(site.mediator_ids)),
        # Whole phone numbers here: the record keeps them, replies mask them (Site.to_json).
        _dumps([{"name": g.name, "phone": g.phone, "area": g.area} for g in site.grid_members]),
        _dumps(list(site.equipment)),
        _dumps(list(site.trades)),
        site.retired_at,
        site.updated_at,
    )


_FIELDS = (
    "kind, name, county, township, village, address, liaison_judge_id, officer_id,"
    " mediator_ids, grid_members, equipment, trades, retired_at, updated_at"
)


class SiteStore:
    def __init__(self, store: SqliteStore) -> None:
        self.db = store

    async def create(self, site: Site) -> None:
        await self.db.run(
            lambda conn: conn.execute(
                f"INSERT INTO sites (id, created_at, {_FIELDS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (site.id, site.created_at, *_values(site)),
            )
        )

    async def update(self, site: Site) -> None:
        sets = ", ".join(f"{name.strip()} = ?" for name in _FIELDS.split(","))
        await self.db.run(
            lambda conn: conn.execute(
                f"UPDATE sites SET {sets} WHERE id = ?", (*_values(site), site.id)
            )
        )

    async def get(self, site_id: str) -> Site | None:
        def get(conn: sqlite3.Connection) -> Site | None:
            row = conn.execute("SELECT * FROM sites WHERE id = ?", (site_id,)).fetchone()
            return _site(row) if row else None

        return await self.db.run(get)

    async def list(self) -> list[Site]:
        def list_(conn: sqlite3.Connection) -> list[Site]:
            rows = conn.execute("SELECT * FROM sites ORDER BY county, township, name, id")
            return [_site(r) for r in rows.fetchall()]

        return await self.db.run(list_)
