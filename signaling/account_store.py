"""The SQL of accounts, their sessions and failed logins (schema step 4,
signaling/migrations/sites.py), run on the shared SqliteStore's thread."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from signaling.accounts import Account, AccountRole
from signaling.store import SqliteStore


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt counted before its check: ``allowed`` False while the username is
    locked (until ``locked_until``); ``failures`` counts this attempt too."""

    allowed: bool
    failures: int
    locked_until: str | None


def _account(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        username=row["username"],
        name=row["name"],
        role=AccountRole(row["role"]),
        active=bool(row["active"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_COLUMNS = "id, username, name, role, active, created_at, updated_at"


class AccountStore:
    def __init__(self, store: SqliteStore) -> None:
        self.db = store

    async def create(self, account: Account, password_hash: str) -> bool:
        """False if the username is taken."""

        def insert(conn: sqlite3.Connection) -> bool:
            try:
                conn.execute(
                    "INSERT INTO accounts (id, username, name, role, password_hash, active,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        account.id,
                        account.username,
                        account.name,
                        account.role.value,
                        password_hash,
                        int(account.active),
                        account.created_at,
                        account.updated_at,
                    ),
                )
            except sqlite3.IntegrityError:
                return False
            return True

        return await self.db.run(insert)

    async def get(self, account_id: str) -> Account | None:
        def get(conn: sqlite3.Connection) -> Account | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
            ).fetchone()
            return _account(row) if row else None

        return await self.db.run(get)

    async def many(self, account_ids: list[str]) -> dict[str, Account]:
        def many(conn: sqlite3.Connection) -> dict[str, Account]:
            if not account_ids:
                return {}
            marks = ", ".join("?" for _ in account_ids)
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE id IN ({marks})", account_ids
            ).fetchall()
            return {row["id"]: _account(row) for row in rows}

        return await self.db.run(many)

    async def list(self, role: AccountRole | None) -> list[Account]:
        def list_(conn: sqlite3.Connection) -> list[Account]:
            if role is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM accounts ORDER BY role, name, username"
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM accounts WHERE role = ? ORDER BY name, username",
                    (role.value,),
                ).fetchall()
            return [_account(r) for r in rows]

        return await self.db.run(list_)

    async def credentials(self, username: str) -> tuple[Account, str] | None:
        def get(conn: sqlite3.Connection) -> tuple[Account, str] | None:
            row = conn.execute(
                f"SELECT {_COLUMNS}, password_hash FROM accounts WHERE username = ?", (username,)
            ).fetchone()
            return (_account(row), row["password_hash"]) if row else None

        return await self.db.run(get)

    async def update(self, account: Account, password_hash: str | None) -> None:
        def update(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE accounts SET name = ?, role = ?, active = ?, updated_at = ?,"
                " password_hash = COALESCE(?, password_hash) WHERE id = ?",
                (
                    account.name,
                    account.role.value,
                    int(account.active),
                    account.updated_at,
                    password_hash,
                    account.id,
                ),
            )

        await self.db.run(update)

    async def set_password_hash(self, account_id: str, password_hash: str) -> None:
        """The hash alone (a rehash at login): an edit made meanwhile is left as it is."""
        await self.db.run(
            lambda conn: conn.execute(
                "UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id)
            )
        )

    # ------------------------------------------------------------------ sessions
    async def add_session(
        self, token_sha256: str, account_id: str, created_at: str, expires_at: str
    ) -> None:
        def add(conn: sqlite3.Connection) -> None:
            # Expired sessions of anyone go as new ones come: the table stays as small as the
            # number of people signed in.
            conn.execute("DELETE FROM account_sessions WHERE expires_at <= ?", (created_at,))
            conn.execute(
                "INSERT INTO account_sessions (token_sha256, account_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (token_sha256, account_id, created_at, expires_at),
            )

        await self.db.run(add)

    async def session(self, token_sha256: str) -> tuple[Account, str] | None:
        def get(conn: sqlite3.Connection) -> tuple[Account, str] | None:
            row = conn.execute(
                "SELECT a.id, a.username, a.name, a.role, a.active, a.created_at, a.updated_at,"
                " s.expires_at FROM account_sessions s JOIN accounts a ON a.id = s.account_id"
                " WHERE s.token_sha256 = ?",
                (token_sha256,),
            ).fetchone()
            return (_account(row), row["expires_at"]) if row else None

        return await self.db.run(get)

    async def end_session(self, token_sha256: str) -> None:
        await self.db.run(
            lambda conn: conn.execute(
                "DELETE FROM account_sessions WHERE token_sha256 = ?", (token_sha256,)
            )
        )

    async def end_sessions(self, account_id: str) -> None:
        await self.db.run(
            lambda conn: conn.execute(
                "DELETE FROM account_sessions WHERE account_id = ?", (account_id,)
            )
        )

    # ------------------------------------------------------------------ failed logins
    async def reserve_attempt(
        self, username: str, *, limit: int, now: str, stale_before: str, locked_until: str
    ) -> Attempt:
        """Count a sign-in attempt against the username before its password is checked.

        Read, decide and write in one transaction on the store's one thread: attempts sent at
        once cannot all read the same count (each verification takes ~1 s, so counting after
        it let 40 parallel guesses through where 5 are allowed). The attempt that reaches
        ``limit`` locks the username until ``locked_until`` (a success clears the lock); an
        attempt while it is locked is refused and counts nothing."""

        def reserve(conn: sqlite3.Connection) -> Attempt:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Guessed usernames would otherwise pile up: a record whose lock is over and
                # whose window has passed says nothing any more.
                conn.execute(
                    "DELETE FROM login_failures WHERE (locked_until IS NULL AND first_at < ?)"
                    " OR locked_until <= ?",
                    (stale_before, now),
                )
                row = conn.execute(
                    "SELECT failures, locked_until FROM login_failures WHERE username = ?",
                    (username,),
                ).fetchone()
                if row is not None and row["locked_until"] is not None:
                    conn.execute("COMMIT")
                    return Attempt(False, row["failures"], row["locked_until"])
                failures = 1 if row is None else row["failures"] + 1
                lock = locked_until if failures >= limit else None
                conn.execute(
                    "INSERT INTO login_failures (username, failures, first_at, locked_until)"
                    " VALUES (?, 1, ?, ?) ON CONFLICT (username) DO UPDATE SET"
                    " failures = failures + 1, locked_until = excluded.locked_until",
                    (username, now, lock),
                )
                conn.execute("COMMIT")
                return Attempt(True, failures, lock)
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        return await self.db.run(reserve)

    async def release_attempt(self, username: str, *, limit: int) -> None:
        """Give back an attempt reserved but never checked (the server was too busy to check
        it): it guessed nothing, so it must not count towards the lock."""
        await self.db.run(
            lambda conn: conn.execute(
                "UPDATE login_failures SET failures = failures - 1, locked_until ="
                " CASE WHEN failures - 1 < ? THEN NULL ELSE locked_until END"
                " WHERE username = ? AND failures > 0",
                (limit, username),
            )
        )

    async def clear_failures(self, username: str) -> None:
        await self.db.run(
            lambda conn: conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))
        )
