"""Who is calling an HTTP route: the administrator (admin key) or a participant (token)."""

from __future__ import annotations

import hmac

from aiohttp import web

from signaling.errors import CourtError, forbidden, unauthorized
from signaling.models import Participant
from signaling.roles import ADMIN, Actor, HearingKind
from signaling.tokens import TokenClaims, TokenInvalid, TokenService

# One answer to a wrong admin key, whichever route it was sent to: a caller who mistyped the
# key must not be told about tokens on one route and about the key on another.
NEITHER = "the credential is neither the admin key nor a valid participant token"


def bearer(request: web.Request, *, required: bool = True) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        if required:
            raise unauthorized("missing 'Authorization: Bearer <token>' header")
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise unauthorized("the Authorization header must be 'Bearer <token>'")
    # Tokens and admin keys are printable ASCII; anything else (bytes that are no UTF-8 arrive
    # as lone surrogates) can match neither, and could not even be compared as bytes.
    if not (credential.isascii() and credential.isprintable()):
        raise unauthorized("the credential in the Authorization header must be printable ASCII")
    return credential


def is_admin_key(credential: str, admin_key: str) -> bool:
    # Constant-time: the admin key must not leak through response timing.
    return hmac.compare_digest(credential.encode(), admin_key.encode())


async def admin_or_moderator(
    request: web.Request, hearing_id: str, tokens: TokenService, admin_key: str
) -> Actor:
    """The admin key, or a token of this hearing with the moderate grant (a judge or clerk; in
    a mediation, also the mediator)."""
    credential = bearer(request)
    assert credential is not None
    if is_admin_key(credential, admin_key):
        return ADMIN
    _, participant = await _authenticate(tokens, credential, hearing_id)
    actor = Actor(
        role=participant.role, participant_id=participant.id, kind=participant.hearing_kind
    )
    if not actor.may_moderate:
        leads = "the mediator's" if actor.kind is HearingKind.MEDIATION else "a judge or clerk"
        raise forbidden(f"a {participant.role} token may not do this; {leads} token may")
    return actor


def require_admin(request: web.Request, tokens: TokenService, admin_key: str) -> None:
    credential = bearer(request)
    assert credential is not None
    if is_admin_key(credential, admin_key):
        return
    try:
        tokens.verify(credential)
    except CourtError:
        raise unauthorized(f"{NEITHER}; this needs the admin key") from None
    raise forbidden("a participant token cannot do this; the admin key is required")


async def optional_viewer(
    request: web.Request, tokens: TokenService, admin_key: str
) -> tuple[bool, str | None]:
    """(is admin, hearing id the caller's token is for) for routes that anonymous users may read."""
    credential = bearer(request, required=False)
    if credential is None:
        return False, None
    if is_admin_key(credential, admin_key):
        return True, None
    claims, _ = await _authenticate(tokens, credential, None)
    return False, claims.hearing_id


async def _authenticate(
    tokens: TokenService, credential: str, hearing_id: str | None
) -> tuple[TokenClaims, Participant]:
    """The token's claims and participant; a credential that is no token of ours at all gets
    the same sentence as a wrong admin key (expired, revoked, another hearing's keep theirs)."""
    try:
        return await tokens.authenticate(credential, hearing_id=hearing_id)
    except TokenInvalid:
        raise unauthorized(NEITHER) from None
