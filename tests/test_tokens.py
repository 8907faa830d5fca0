"""Participant tokens: signed, bound to hearing/participant/role, expiring, revocable."""

from __future__ import annotations

import time

import jwt
import pytest

from signaling.hearings import HearingService
from signaling.roles import Role
from signaling.store import SqliteStore
from signaling.tokens import (
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TokenService,
    TokenWrongHearing,
)

SECRET = b"s" * 43
HEARING = {
    "case_number": "(2025)粤0304刑初9号",
    "title": "t",
    "court": "c",
    "case_type": "criminal",
    "public": False,
    "scheduled_at": "2025-03-01T09:30:00+08:00",
}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def env(tmp_path):
    store = await SqliteStore.open(tmp_path / "db.sqlite")
    clock = Clock()
    tokens = TokenService(SECRET, 3600, store, clock=clock)
    yield HearingService(store, tokens), tokens, clock
    await store.close()


async def test_issued_token_carries_the_binding(env):
    service, tokens, _ = env
    hearing = await service.create(HEARING)
    issued = await service.issue_token(hearing.id, {"role": "witness", "name": "证人"}, issuer=None)
    claims = jwt.decode(issued.token, SECRET, algorithms=["HS256"], issuer="cloudcourt")
    assert claims["sub"] == issued.participant.id
    assert claims["hearing"] == hearing.id
    assert claims["role"] == "witness"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"]
    verified = tokens.verify(issued.token, hearing_id=hearing.id)
    assert verified.participant_id == issued.participant.id and verified.role is Role.WITNESS
    _, participant = await tokens.authenticate(issued.token, hearing_id=hearing.id)
    assert participant == issued.participant


async def test_expired_invalid_and_wrong_hearing_are_told_apart(env):
    service, tokens, clock = env
    h1 = await service.create(HEARING)
    h2 = await service.create(HEARING)
    issued = await service.issue_token(h1.id, {"role": "party", "name": "x"}, issuer=None)

    with pytest.raises(TokenWrongHearing) as wrong:
        tokens.verify(issued.token, hearing_id=h2.id)
    assert "another hearing" in wrong.value.message

    forged = jwt.encode(
        jwt.decode(issued.token, options={"verify_signature": False}), b"x" * 43, algorithm="HS256"
    )
    for bad in (forged, "not.a.jwt", "", None, 42):
        with pytest.raises(TokenInvalid):
            tokens.verify(bad)
    unsigned = jwt.encode({"sub": "p", "hearing": h1.id, "role": "judge"}, None, algorithm="none")
    with pytest.raises(TokenInvalid):
        tokens.verify(unsigned)

    clock.now += 3600 + 10
    with pytest.raises(TokenExpired) as expired:
        tokens.verify(issued.token, hearing_id=h1.id)
    assert "expired" in expired.value.message
    for exc in (wrong.value, expired.value):
        assert exc.code == "unauthorized"


async def test_claims_must_name_a_known_role_and_participant(env):
    service, tokens, clock = env
    hearing = await service.create(HEARING)
    now = int(clock.now)
    base = {"iss": "cloudcourt", "iat": now, "exp": now + 60, "jti": "j", "hearing": hearing.id}
    bogus_role = jwt.encode({**base, "sub": "p_1", "role": "king"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenInvalid):
        tokens.verify(bogus_role)
    # well signed, but for a participant the server never created
    ghost = jwt.encode({**base, "sub": "p_ghost", "role": "judge"}, SECRET, algorithm="HS256")
    tokens.verify(ghost)
    with pytest.raises(TokenInvalid):
        await tokens.authenticate(ghost)


async def test_removed_participant_token_stops_working(env):
    service, tokens, _ = env
    hearing = await service.create(HEARING)
    issued = await service.issue_token(hearing.id, {"role": "party", "name": "x"}, issuer=None)
    await service.remove(issued.participant)
    tokens.verify(issued.token)  # the signature is still fine...
    with pytest.raises(TokenRevoked):  # ...but the participant is gone
        await tokens.authenticate(issued.token, hearing_id=hearing.id)


async def test_denied_participant_token_stops_working(env):
    service, tokens, _ = env
    hearing = await service.create(HEARING)
    issued = await service.issue_token(hearing.id, {"role": "party", "name": "x"}, issuer=None)
    await service.deny(issued.participant)
    with pytest.raises(TokenRevoked):
        await tokens.authenticate(issued.token)


async def test_tokens_survive_a_new_service_with_the_same_secret(tmp_path):
    path = tmp_path / "db.sqlite"
    store = await SqliteStore.open(path)
    service = HearingService(store, TokenService(SECRET, 3600, store))
    hearing = await service.create(HEARING)
    issued = await service.issue_token(hearing.id, {"role": "judge", "name": "x"}, issuer=None)
    await store.close()

    store = await SqliteStore.open(path)
    try:
        _, participant = await TokenService(SECRET, 3600, store).authenticate(issued.token)
        assert participant.role is Role.JUDGE
    finally:
        await store.close()


@pytest.mark.parametrize("token", ["\ud800", "a.b\udcff.c", "令牌.令牌.令牌"])
def test_a_token_that_is_no_ascii_is_invalid(env, token):
    _, tokens, _ = env
    with pytest.raises(TokenInvalid):
        tokens.verify(token)
