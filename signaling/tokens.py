"""Participant tokens: signed JWTs bound to one hearing, one participant and one role.

A signature alone cannot be withdrawn, so ``authenticate`` also asks the store whether the
participant still exists and has not been removed: that is how a removed participant's token stops
working before it expires.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from signaling.errors import Code, CourtError
from signaling.models import Participant
from signaling.roles import Role, parse_role
from signaling.store import Store

ALGORITHM = "HS256"
ISSUER = "cloudcourt"
# Clocks of the machines that mint and check tokens may differ by a few seconds.
LEEWAY_SECONDS = 5


class TokenError(CourtError):
    def __init__(self, message: str) -> None:
        super().__init__(Code.UNAUTHORIZED, message)


class TokenExpired(TokenError):
    def __init__(self) -> None:
        super().__init__("token has expired; ask the court for a new link")


class TokenInvalid(TokenError):
    def __init__(self, detail: str = "token is not valid") -> None:
        super().__init__(detail)


class TokenWrongHearing(TokenError):
    def __init__(self) -> None:
        super().__init__("token belongs to another hearing")


class TokenRevoked(TokenError):
    def __init__(self) -> None:
        super().__init__("token has been revoked: the participant was removed from the hearing")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    hearing_id: str
    participant_id: str
    role: Role
    issued_at: int
    expires_at: int
    jti: str


class TokenService:
    def __init__(
        self,
        secret: bytes,
        ttl_seconds: int,
        store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        self._store = store
        self._clock = clock

    def issue(self, hearing_id: str, participant_id: str, role: Role) -> tuple[str, TokenClaims]:
        now = int(self._clock())
        claims = TokenClaims(
            hearing_id=hearing_id,
            participant_id=participant_id,
            role=role,
            issued_at=now,
            expires_at=now + self.ttl_seconds,
            jti=secrets.token_urlsafe(12),
        )
        payload = {
            "iss": ISSUER,
            "sub": participant_id,
            "hearing": hearing_id,
            "role": role.value,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "jti": claims.jti,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), claims

    def expired(self, expires_at: int) -> bool:
        """Whether a token with this ``exp`` is no longer accepted (now, by this server's clock)."""
        return expires_at + LEEWAY_SECONDS < self._clock()

    def verify(self, token: object, *, hearing_id: str | None = None) -> TokenClaims:
        """Check signature, expiry and (if given) the hearing; no store lookup."""
        if not isinstance(token, str) or not token:
            raise TokenInvalid("a token is required")
        if not token.isascii():
            # PyJWT would fail to encode a lone surrogate with a UnicodeError of its own.
            raise TokenInvalid()
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                # Times are checked below against our own clock (which tests can move).
                options={
                    "require": ["exp", "iat", "sub", "jti"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError:
            raise TokenInvalid() from None
        expires_at, issued_at = payload.get("exp"), payload.get("iat")
        if not isinstance(expires_at, int) or not isinstance(issued_at, int):
            raise TokenInvalid()
        if self.expired(expires_at):
            raise TokenExpired()
        role = parse_role(payload.get("role"))
        hearing = payload.get("hearing")
        participant = payload.get("sub")
        if role is None or not isinstance(hearing, str) or not isinstance(participant, str):
            raise TokenInvalid()
        if hearing_id is not None and hearing != hearing_id:
            raise TokenWrongHearing()
        return TokenClaims(
            hearing_id=hearing,
            participant_id=participant,
            role=role,
            issued_at=issued_at,
            expires_at=expires_at,
            jti=str(payload["jti"]),
        )

    async def authenticate(
        self, token: object, *, hearing_id: str | None = None
    ) -> tuple[TokenClaims, Participant]:
        """Verify the token and that its participant still may use it."""
        claims = self.verify(token, hearing_id=hearing_id)
        participant = await self._store.get_participant(claims.participant_id)
        if (
            participant is None
            or participant.hearing_id != claims.hearing_id
            or participant.role is not claims.role
        ):
            raise TokenInvalid()
        if participant.revoked:
            raise TokenRevoked()
        return claims, participant
