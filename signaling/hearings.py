"""Hearing service: the durable rules for hearings and their participants.

Everything here is about records (what state a hearing or participant is in, who may be issued
what); live connections and media are the business of ``presence.py`` and its neighbours
(see ``registry.py``).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from signaling.errors import conflict, forbidden, not_found
from signaling.models import (
    Hearing,
    HearingKind,
    HearingState,
    Participant,
    ParticipantState,
    new_hearing_id,
    new_participant_id,
    schedule_order,
    utc_now,
)
from signaling.roles import Role, grants_for, outranks
from signaling.schemas import NewHearing, TokenRequest
from signaling.schemas_parse import body
from signaling.store import Store
from signaling.tokens import TokenClaims, TokenService

NOT_ENDED = (HearingState.SCHEDULED, HearingState.OPEN, HearingState.IN_SESSION)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    claims: TokenClaims
    participant: Participant


class HearingService:
    def __init__(self, store: Store, tokens: TokenService) -> None:
        self.store = store
        self.tokens = tokens

    # ------------------------------------------------------------------ hearings
    async def create(self, data: object, *, dispute_id: str | None = None) -> Hearing:
        """A new hearing from a request body (``schemas.NewHearing``); ``dispute_id``: the
        dispute it is held for (a mediation session, or the hearing of a filed dispute)."""
        new = body(NewHearing, data)
        now = utc_now()
        hearing = Hearing(
            id=new_hearing_id(),
            case_number=new.case_number,
            title=new.title,
            court=new.court,
            case_type=new.case_type,
            public=new.public,
            scheduled_at=new.scheduled_at,
            state=HearingState.SCHEDULED,
            created_at=now,
            updated_at=now,
            kind=new.kind,
            dispute_id=dispute_id,
        )
        await self.store.create_hearing(hearing)
        return hearing

    async def get(self, hearing_id: str) -> Hearing:
        hearing = await self.store.get_hearing(hearing_id)
        if hearing is None:
            raise not_found(f"no hearing with id {hearing_id!r}")
        return hearing

    async def get_unended(self, hearing_id: str) -> Hearing:
        """The hearing, refusing one that has ended (nothing happens in an ended hearing)."""
        hearing = await self.get(hearing_id)
        if hearing.state is HearingState.ENDED:
            raise conflict("the hearing has ended")
        return hearing

    async def list(self, *, include_private: bool) -> list[Hearing]:
        """Chronologically by ``scheduled_at``. Sorted here, not by the store: stored values are
        UTC now, but older records may carry other offsets, which text order gets wrong."""
        hearings = await self.store.list_hearings()
        hearings.sort(key=lambda h: (schedule_order(h.scheduled_at), h.created_at, h.id))
        return hearings if include_private else [h for h in hearings if h.public]

    async def note_joined(
        self, hearing_id: str, role: Role, kind: HearingKind = HearingKind.HEARING
    ) -> Hearing | None:
        """Advance the hearing's state because someone joined; the new hearing if it changed.

        The judge's arrival opens the session (and so its recording); in a mediation, the
        mediator's too, who leads it. Anyone else's arrival only opens the hearing.
        """
        leads = role is Role.JUDGE or (kind is HearingKind.MEDIATION and role is Role.MEDIATOR)
        if leads:
            return await self.store.set_hearing_state(
                hearing_id,
                HearingState.IN_SESSION,
                only_from=(HearingState.SCHEDULED, HearingState.OPEN),
            )
        return await self.store.set_hearing_state(
            hearing_id, HearingState.OPEN, only_from=(HearingState.SCHEDULED,)
        )

    async def end(self, hearing_id: str) -> Hearing:
        hearing = await self.get(hearing_id)
        ended = await self.store.set_hearing_state(
            hearing_id, HearingState.ENDED, only_from=NOT_ENDED
        )
        if ended is None:
            raise conflict(f"hearing {hearing.id} has already ended")
        return ended

    # ------------------------------------------------------------------ participants
    async def issue_token(
        self, hearing_id: str, data: object, *, issuer: Role | None
    ) -> IssuedToken:
        """Create a participant and its token from a request body (``schemas.TokenRequest``).
        ``issuer`` None means the administrator."""
        hearing = await self.get_unended(hearing_id)
        wanted = body(TokenRequest, data)
        role = wanted.role
        if not outranks(issuer, role, hearing.kind):
            raise forbidden(f"a {issuer} token may not issue a {role} token")
        # Moderators never wait in the lobby, so their record says admitted from the start.
        admitted = wanted.admitted or grants_for(role, hearing.kind).moderate
        participant = Participant(
            id=new_participant_id(),
            hearing_id=hearing.id,
            name=wanted.name,
            role=role,
            state=ParticipantState.ADMITTED if admitted else ParticipantState.LOBBY,
            admitted=admitted,
            revoked=False,
            created_at=utc_now(),
            masked=wanted.masked,
            site=wanted.site,
            hearing_kind=hearing.kind,
        )
        await self.store.create_participant(participant)
        token, claims = self.tokens.issue(hearing.id, participant.id, role)
        return IssuedToken(token=token, claims=claims, participant=participant)

    async def participant(self, hearing_id: str, participant_id: str) -> Participant:
        participant = await self.store.get_participant(participant_id)
        if participant is None or participant.hearing_id != hearing_id:
            raise not_found(f"no participant {participant_id!r} in this hearing")
        return participant

    async def participants(self, hearing_id: str) -> builtins.list[Participant]:
        return await self.store.list_participants(hearing_id)

    async def admit(self, participant: Participant) -> Participant:
        if participant.revoked:
            raise conflict("the participant was removed and cannot be admitted")
        if participant.admitted:
            return participant
        return await self._update(participant, state=ParticipantState.ADMITTED, admitted=True)

    async def deny(self, participant: Participant) -> Participant:
        if participant.revoked:
            return participant
        if participant.admitted:
            raise conflict("the participant is already admitted; use remove instead of deny")
        return await self._update(participant, state=ParticipantState.REMOVED, revoked=True)

    async def remove(self, participant: Participant) -> Participant:
        if participant.revoked:
            return participant
        return await self._update(participant, state=ParticipantState.REMOVED, revoked=True)

    async def set_masked(self, participant: Participant, masked: bool) -> Participant:
        if participant.masked is masked:
            return participant
        return await self._update(participant, masked=masked)

    async def set_state(self, participant: Participant, state: ParticipantState) -> Participant:
        if participant.state is state:
            return participant
        return await self._update(participant, state=state)

    async def _update(self, participant: Participant, **changes: Any) -> Participant:
        updated = await self.store.update_participant(participant.id, **changes)
        if updated is None:
            raise not_found(f"no participant {participant.id!r} in this hearing")
        return updated
