"""Who is calling a court-network route (sites, people, disputes): the admin key, or a person
signed in with an account session (``Authorization: Bearer <session token>``).

Participant tokens are for one hearing's room and say nothing about the network: on these
routes they are refused like any other wrong credential (401).
"""

from __future__ import annotations

from aiohttp import web

from signaling.accounts import Account, AccountRole, accounts_of
from signaling.auth import bearer, is_admin_key
from signaling.context import services
from signaling.errors import forbidden, unauthorized

# One sentence for every credential that is neither (expired, signed out, deactivated, a
# participant token, garbage): which of them it was is no business of a stranger's.
NOT_SIGNED_IN = "the credential is neither the admin key nor a valid account session; sign in again"


async def account_caller(request: web.Request) -> Account | None:
    """None for the admin key; the signed-in account for a live session token; 401 otherwise."""
    credential = bearer(request)
    assert credential is not None
    if is_admin_key(credential, services(request).settings.admin_key):
        return None
    session = await accounts_of(request).session(credential)
    if session is None:
        raise unauthorized(NOT_SIGNED_IN)
    return session.account


def is_admin(caller: Account | None) -> bool:
    """The admin key or an ``admin`` account."""
    return caller is None or caller.role is AccountRole.ADMIN


def require_roles(caller: Account | None, *roles: AccountRole) -> None:
    """403 unless the caller has one of ``roles``; the admin key and admin accounts always pass."""
    if is_admin(caller) or (caller is not None and caller.role in roles):
        return
    assert caller is not None
    allowed = ", ".join(["admin", *(r.value for r in roles)])
    raise forbidden(f"a {caller.role.value} account may not do this; allowed: {allowed}")


def caller_label(caller: Account | None) -> str:
    """Who did it, as records and logs name them: ``admin key`` or ``<name> (<account id>)``."""
    return "admin key" if caller is None else f"{caller.name} ({caller.id})"
