"""People's accounts: who they are (judges, site officers, mediators, the command center, the
administrators), how they sign in, and their sessions.

A person signs in with a username and password (argon2id, argon2-cffi) and gets an opaque
session token, kept by the server only as its SHA-256: a copy of the database is no way in.
The admin key stays the bootstrap credential (it creates the first ``admin`` account).
The SQL is in ``account_store``; the HTTP routes in ``accounts_api``; who is calling a route in
``account_auth``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from signaling.errors import conflict, not_found
from signaling.models import utc_now

T = TypeVar("T")

if TYPE_CHECKING:
    from signaling.account_store import AccountStore

log = logging.getLogger("cloudcourt.accounts")


class AccountRole(StrEnum):
    ADMIN = "admin"  # registers sites and people
    JUDGE = "judge"  # a liaison judge (联系法官) of some sites
    OFFICER = "officer"  # a site officer (庭务主任) or the police officer at a station
    MEDIATOR = "mediator"  # a mediator of some sites
    COMMAND = "command"  # the command center (指挥中心): sees the whole network


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    name: str
    role: AccountRole
    active: bool
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "role": self.role.value,
            "active": self.active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Session:
    account: Account
    expires_at: str


def new_account_id() -> str:
    return "a_" + secrets.token_hex(8)


def secret_digest(secret: str) -> str:
    """How a session token or a device credential is stored: its SHA-256, hex. The secrets are
    256 random bits, so a plain hash is enough (no salt or slow hash: nothing to guess)."""
    return hashlib.sha256(secret.encode()).hexdigest()


# Repeated wrong passwords for one username lock it: a court system faces password guessing.
# Counted per username (known or not, so the lock says nothing about who exists).
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)

# One sentence for an unknown user, a wrong password and a deactivated account.
WRONG_LOGIN = "the username or password is wrong"


class SignInsBusy(Exception):
    """More sign-ins wait for their password check than the server takes on at once."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry in {retry_after} s")
        self.retry_after = retry_after


# Sign-ins waiting beyond this are answered 503 at once: a flood of them must not queue without
# end (each waiting request holds a connection) behind a one-at-a-time hasher.
MAX_QUEUED_SIGN_INS = 32
SIGN_IN_RETRY_SECONDS = 5


class LoginLocked(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after


class LoginRefused(Exception):
    pass


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class AccountService:
    def __init__(self, store: AccountStore, session_ttl_seconds: int) -> None:
        self.store = store
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        # argon2-cffi's defaults (RFC 9106's second recommendation); check_needs_rehash follows
        # them when a newer argon2-cffi raises them.
        self.hasher = PasswordHasher()
        self._dummy_hash: str | None = None
        # One hash at a time: sign-ins anyone can send must not take more than a core from the
        # hearings (argon2 runs its lanes on threads of its own); the rest wait their turn.
        self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
        self._queued = 0

    # ------------------------------------------------------------------ hashing
    # argon2 takes ~50 ms of a core and 64 MiB by design: off the event loop, where the SFU runs.
    async def _hashed(self, work: Callable[[], T], *, sign_in: bool = False) -> T:
        # Only sign-ins, which anyone can send, are turned away when too many wait; the admin's
        # account edits always wait their turn.
        if sign_in and self._queued >= MAX_QUEUED_SIGN_INS:
            raise SignInsBusy(SIGN_IN_RETRY_SECONDS)
        self._queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._hashing, work)
        finally:
            self._queued -= 1

    async def hash_password(self, password: str) -> str:
        return await self._hashed(lambda: self.hasher.hash(password))

    async def _verify(self, stored_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self.hasher.verify(stored_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self._hashed(check, sign_in=True)

    async def _dummy(self) -> str:
        """A hash to verify against for an unknown username, so that it takes as long as a
        wrong password for a real one (no telling who has an account from the timing)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash_password(secrets.token_urlsafe(16))
        return self._dummy_hash

    # ------------------------------------------------------------------ accounts
    async def get(self, account_id: str) -> Account | None:
        return await self.store.get(account_id)

    async def require(self, account_id: str) -> Account:
        account = await self.store.get(account_id)
        if account is None:
            raise not_found(f"no account {account_id}")
        return account

    async def list(self, role: AccountRole | None = None) -> list[Account]:
        return await self.store.list(role)

    async def create(self, username: str, name: str, role: AccountRole, password: str) -> Account:
        now = utc_now()
        account = Account(
            id=new_account_id(),
            username=username,
            name=name,
            role=role,
            active=True,
            created_at=now,
            updated_at=now,
        )
        if not await self.store.create(account, await self.hash_password(password)):
            raise conflict(f"the username {username!r} is taken")
        log.info("account %s (%s, %s) created", account.id, username, role.value)
        return account

    async def update(
        self,
        account_id: str,
        *,
        name: str | None = None,
        role: AccountRole | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> Account:
        account = await self.require(account_id)
        changed = replace(
            account,
            name=account.name if name is None else name,
            role=account.role if role is None else role,
            active=account.active if active is None else active,
            updated_at=utc_now(),
        )
        password_hash = None if password is None else await self.hash_password(password)
        await self.store.update(changed, password_hash)
        if not changed.active or password is not None:
            # A deactivated account, or one whose password was reset (perhaps because it
            # leaked), is signed out everywhere at once; a reset also lifts a lockout.
            await self.store.end_sessions(account_id)
        if password is not None:
            await self.store.clear_failures(account.username)
        log.info(
            "account %s updated (%s)",
            account_id,
            ", ".join(
                k
                for k, v in (
                    ("name", name),
                    ("role", role),
                    ("active", active),
                    ("password", password),
                )
                if v is not None
            ),
        )
        return changed

    # ------------------------------------------------------------------ sessions
    async def login(self, username: str, password: str) -> tuple[str, Session]:
        """(session token, session); ``LoginLocked`` while the username is locked,
        ``LoginRefused`` for a wrong username or password or a deactivated account,
        ``SignInsBusy`` when too many wait for their check."""
        if self._queued >= MAX_QUEUED_SIGN_INS:
            # Turned away before the attempt is counted: it guesses nothing.
            raise SignInsBusy(SIGN_IN_RETRY_SECONDS)
        now = datetime.now(UTC)
        # The attempt is counted before its ~1 s check, in one transaction: guesses sent at
        # once each see the others' (counted after the check, all read the same count).
        attempt = await self.store.reserve_attempt(
            username,
            limit=MAX_FAILURES,
            now=_iso(now),
            stale_before=_iso(now - FAILURE_WINDOW),
            locked_until=_iso(now + LOCK_TIME),
        )
        if not attempt.allowed:
            raise LoginLocked(_locked_for(attempt.locked_until, now))
        try:
            found = await self.store.credentials(username)
            if found is None:
                await self._verify(await self._dummy(), password)
                self._fail(username, attempt.failures)
            account, stored_hash = found
            if not await self._verify(stored_hash, password) or not account.active:
                self._fail(username, attempt.failures)
        except SignInsBusy:
            await self.store.release_attempt(username, limit=MAX_FAILURES)
            raise
        if self.hasher.check_needs_rehash(stored_hash):
            await self.store.set_password_hash(account.id, await self.hash_password(password))
        await self.store.clear_failures(username)
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)  # after the hash's verification, which takes its time
        expires_at = _iso(now + self.session_ttl)
        await self.store.add_session(secret_digest(token), account.id, _iso(now), expires_at)
        log.info("account %s signed in", account.id)
        return token, Session(account, expires_at)

    def _fail(self, username: str, failures: int) -> NoReturn:
        """The attempt was counted when it began; what is left is to say so."""
        if failures >= MAX_FAILURES:
            log.warning("username %r locked after %d failed logins", username, failures)
        raise LoginRefused(WRONG_LOGIN)

    async def session(self, token: str) -> Session | None:
        """The live session of a token: unexpired, of an active account."""
        found = await self.store.session(secret_digest(token))
        if found is None:
            return None
        account, expires_at = found
        if not account.active or _parse(expires_at) <= datetime.now(UTC):
            return None
        return Session(account, expires_at)

    async def logout(self, token: str) -> None:
        await self.store.end_session(secret_digest(token))


def _locked_for(locked_until: str | None, now: datetime) -> int:
    """Seconds the username stays locked (at least 1: it was found locked)."""
    if locked_until is None:
        return 1
    return max(1, int((_parse(locked_until) - now).total_seconds()) + 1)


ACCOUNTS: web.AppKey[AccountService] = web.AppKey("accounts", AccountService)


def accounts_of(request: web.Request) -> AccountService:
    return request.app[ACCOUNTS]
