"""The SQL of sites (schema step 4, signaling/migrations/sites.py), on the shared SqliteStore's
thread. A site's lists are JSON arrays in a column each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from signaling.errors import not_found
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


def _grid(members: tuple[GridMember, ...]) -> str:
    # Whole phone numbers here: the record keeps them, replies mask them (Site.to_json).
    return _dumps([{"name": g.name, "phone": g.phone, "area": g.area} for g in members])


def _same(value: Any) -> Any:
    return value


# How each of a site's fields is kept in its column (the field's name is the column's).
_COLUMN: dict[str, Callable[[Any], Any]] = {
    "kind": lambda kind: SiteKind(kind).value,
    "name": _same,
    "county": _same,
    "township": _same,
    "village": _same,
    "address": _same,
    "liaison_judge_id": _same,
    "officer_id": _same,
    "mediator_ids": lambda ids: _dumps(list(ids)),
    "grid_members": _grid,
    "equipment": lambda items: _dumps(list(items)),
    "trades": lambda items: _dumps(list(items)),
    "retired_at": _same,
    "updated_at": _same,
}
_FIELDS = ", ".join(_COLUMN)


def _values(site: Site) -> tuple[Any, ...]:
    return tuple(keep(getattr(site, name)) for name, keep in _COLUMN.items())


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

    async def change(
        self, site_id: str, edit: Callable[[Site], dict[str, Any]], updated_at: str
    ) -> Site:
        """Change a site as ``edit(site as it is now)`` says: the fields it returns, and only
        their columns, in one transaction with the read ``edit`` decided on (it raises to
        refuse). Concurrent edits of different fields both stay, and a permission ``edit``
        checks (an officer still the site's officer) holds when the change is written."""

        def change(conn: sqlite3.Connection) -> Site:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT * FROM sites WHERE id = ?", (site_id,)).fetchone()
                if row is None:
                    raise not_found(f"no site {site_id}")
                changes = {**edit(_site(row)), "updated_at": updated_at}
                sets = ", ".join(f"{name} = ?" for name in changes)
                conn.execute(
                    f"UPDATE sites SET {sets} WHERE id = ?",
                    (*(_COLUMN[name](value) for name, value in changes.items()), site_id),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return replace(_site(row), **changes)

        return await self.db.run(change)

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
