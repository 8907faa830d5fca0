"""A dispute's hearings: its mediation sessions (hearings of kind ``mediation``, led by the
mediator) with their seats, the judge called in, and the court hearing of a filed dispute.

Who may do what here (docs/MEDIATION.md) is decided in this module, from the dispute and its
sites; the routes (``dispute_sessions_api``) only read requests and shape replies. A seat ties
a session's participant to whom it stands for, so that a token is minted only for its owner:
the mediator's and the judge's to their own accounts, a party's and the kiosk's to whoever runs
the session (the parties have no accounts; the officer beside them hands them the link).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from aiohttp import web

from signaling.account_auth import is_admin
from signaling.accounts import ACCOUNTS, Account, AccountRole, AccountService
from signaling.disputes import (
    DISPUTES,
    MEDIATING,
    TYPE_LABELS,
    Dispute,
    DisputeService,
    DisputeState,
    HandlerLevel,
    MediatorStatus,
    Side,
    actor_label,
)
from signaling.errors import conflict, forbidden, not_found
from signaling.hearings import HearingService
from signaling.models import Hearing, HearingKind, HearingState, ParticipantState, utc_now
from signaling.roles import Role
from signaling.schemas_sessions import DisputeHearingLink, NewMediationSession
from signaling.sites import SITES, Site, SiteService
from signaling.store import SqliteStore

log = logging.getLogger("cloudcourt.sessions")


class SeatKind(StrEnum):
    MEDIATOR = "mediator"
    PARTY = "party"
    KIOSK = "kiosk"
    JUDGE = "judge"


@dataclass(frozen=True, slots=True)
class Seat:
    participant_id: str
    hearing_id: str
    seat: SeatKind
    role: str
    name: str
    site: str | None
    state: ParticipantState
    revoked: bool
    account_id: str | None
    party_id: str | None
    site_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "seat": self.seat.value,
            "role": self.role,
            "name": self.name,
            "site": self.site,
            "state": self.state.value,
            "account_id": self.account_id,
            "party_id": self.party_id,
            "site_id": self.site_id,
        }


@dataclass(frozen=True, slots=True)
class MintedToken:
    seat: Seat
    token: str
    expires_at: int

    def to_json(self, public_url: str) -> dict[str, Any]:
        return {
            "participant_id": self.seat.participant_id,
            "seat": self.seat.seat.value,
            "role": self.seat.role,
            "name": self.seat.name,
            "token": self.token,
            "expires_at": datetime.fromtimestamp(self.expires_at, UTC).isoformat(),
            "join_url": (
                f"{public_url}/join/{self.seat.hearing_id}?token={quote(self.token, safe='')}"
            ),
        }


_SEATS = (
    "SELECT s.*, p.name, p.role, p.state, p.site, p.revoked FROM session_seats AS s"
    " JOIN participants AS p ON p.id = s.participant_id"
)


def _seat(row: sqlite3.Row) -> Seat:
    return Seat(
        participant_id=row["participant_id"],
        hearing_id=row["hearing_id"],
        seat=SeatKind(row["seat"]),
        role=row["role"],
        name=row["name"],
        site=row["site"],
        state=ParticipantState(row["state"]),
        revoked=bool(row["revoked"]),
        account_id=row["account_id"],
        party_id=row["party_id"],
        site_id=row["site_id"],
    )


class DisputeSessions:
    """The service on the app under ``SESSIONS``. Disputes, sites and accounts are other parts'
    services, put on the app by their own modules: looked up when first needed."""

    def __init__(self, app: web.Application, hearings: HearingService, store: SqliteStore):
        self._app = app
        self.hearings = hearings
        self.store = store

    @property
    def disputes(self) -> DisputeService:
        return self._app[DISPUTES]

    @property
    def sites(self) -> SiteService:
        return self._app[SITES]

    @property
    def accounts(self) -> AccountService:
        return self._app[ACCOUNTS]

    # ------------------------------------------------------------------ who may
    async def _dispute_sites(self, dispute: Dispute) -> list[Site]:
        found = []
        for site_id in DisputeService.site_ids(dispute):
            site = await self.sites.get(site_id)
            if site is not None:
                found.append(site)
        return found

    async def _is_liaison_judge(self, caller: Account, dispute: Dispute) -> bool:
        if caller.role is not AccountRole.JUDGE:
            return False
        if dispute.judge_id == caller.id:
            return True
        return any(s.liaison_judge_id == caller.id for s in await self._dispute_sites(dispute))

    async def may_run_sessions(self, caller: Account | None, dispute: Dispute) -> bool:
        """The admin key and admin accounts; the dispute's mediator; the officer of its intake
        or handling site; its liaison judge; the command center for a dispute it handles."""
        if is_admin(caller):
            return True
        assert caller is not None
        if caller.role is AccountRole.MEDIATOR:
            # Only the mediator who accepted: one who declined is no longer theirs to mediate.
            accepted = dispute.mediator_status is MediatorStatus.ACCEPTED
            return dispute.mediator_id == caller.id and accepted
        if caller.role is AccountRole.OFFICER:
            return any(s.officer_id == caller.id for s in await self._dispute_sites(dispute))
        if caller.role is AccountRole.COMMAND:
            return dispute.handler.level is HandlerLevel.COMMAND_CENTER
        return await self._is_liaison_judge(caller, dispute)

    async def may_file(self, caller: Account | None, dispute: Dispute) -> bool:
        """Who may have the filing export (parties whole) and schedule the hearing: the court's
        side only — the admin key, admin and command accounts, the dispute's liaison judge."""
        if is_admin(caller):
            return True
        assert caller is not None
        if caller.role is AccountRole.COMMAND:
            return True
        return await self._is_liaison_judge(caller, dispute)

    async def is_intake_officer(self, caller: Account | None, dispute: Dispute) -> bool:
        if caller is None or caller.role is not AccountRole.OFFICER:
            return False
        site = await self.sites.get(dispute.intake_site_id)
        return site is not None and site.officer_id == caller.id

    async def dispute_for(self, caller: Account | None, dispute_id: str) -> Dispute:
        """The dispute (404), if the caller may see it (403)."""
        dispute = await self.disputes.get(dispute_id)
        if not await self.disputes.visible(caller, dispute):
            raise forbidden(f"dispute {dispute_id} is not one of yours")
        return dispute

    async def _runnable(self, caller: Account | None, dispute_id: str) -> Dispute:
        dispute = await self.dispute_for(caller, dispute_id)
        if not await self.may_run_sessions(caller, dispute):
            raise forbidden(
                "a mediation session is run by the dispute's mediator, the officer of its site, "
                "its liaison judge or an admin"
            )
        return dispute

    # ------------------------------------------------------------------ seats
    async def _add_seat(
        self,
        dispute: Dispute,
        hearing: Hearing,
        seat: SeatKind,
        wanted: dict[str, Any],
        by: str,
        *,
        account_id: str | None = None,
        party_id: str | None = None,
        site_id: str | None = None,
    ) -> MintedToken:
        issued = await self.hearings.issue_token(hearing.id, wanted, issuer=None)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO session_seats (participant_id, hearing_id, dispute_id, seat,"
                " account_id, party_id, site_id, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    issued.participant.id,
                    hearing.id,
                    dispute.id,
                    seat.value,
                    account_id,
                    party_id,
                    site_id,
                    by,
                    utc_now(),
                ),
            )

        await self.store.run(insert)
        p = issued.participant
        return MintedToken(
            seat=Seat(
                participant_id=p.id,
                hearing_id=hearing.id,
                seat=seat,
                role=p.role.value,
                name=p.name,
                site=p.site,
                state=p.state,
                revoked=p.revoked,
                account_id=account_id,
                party_id=party_id,
                site_id=site_id,
            ),
            token=issued.token,
            expires_at=issued.claims.expires_at,
        )

    async def seats(self, hearing_id: str) -> list[Seat]:
        def select(conn: sqlite3.Connection) -> list[Seat]:
            rows = conn.execute(
                f"{_SEATS} WHERE s.hearing_id = ? ORDER BY p.created_at, p.id", (hearing_id,)
            ).fetchall()
            return [_seat(r) for r in rows]

        return await self.store.run(select)

    async def session_json(self, hearing: Hearing) -> dict[str, Any]:
        seats = await self.seats(hearing.id)
        return {
            "hearing": hearing.to_json(),
            "seats": [s.to_json() for s in seats],
            "judge_called": any(s.seat is SeatKind.JUDGE for s in seats),
        }

    def _mint(self, seat: Seat) -> MintedToken:
        token, claims = self.hearings.tokens.issue(
            seat.hearing_id, seat.participant_id, Role(seat.role)
        )
        return MintedToken(seat=seat, token=token, expires_at=claims.expires_at)

    # ------------------------------------------------------------------ sessions
    async def create(
        self, caller: Account | None, dispute_id: str, new: NewMediationSession
    ) -> tuple[dict[str, Any], list[MintedToken]]:
        """A mediation session of the dispute with its seats: the mediator (who leads it), each
        party, and the intake site's kiosk if asked. Returns the session and the tokens the
        caller may have: every party's and the kiosk's; the mediator's only to the mediator
        (or an admin), who otherwise takes theirs with :meth:`my_token`."""
        dispute = await self._runnable(caller, dispute_id)
        if dispute.state not in MEDIATING:
            raise conflict(
                f"dispute {dispute.id} is {dispute.state.value}: mediation sessions are held "
                "while it is in site or judge-guided mediation"
            )
        if dispute.mediator_id is None or dispute.mediator_status is not MediatorStatus.ACCEPTED:
            raise conflict(
                f"dispute {dispute.id} has no mediator who accepted it to lead a session: a "
                "mediator is appointed and accepts first (SPC online mediation rules, Arts. 10-15)"
            )
        mediator = await self.accounts.get(dispute.mediator_id)
        if mediator is None or not mediator.active:
            raise conflict(f"the dispute's mediator {dispute.mediator_id} has no active account")
        party_ids = {p.id for p in dispute.parties}
        unknown = [p for p in new.remote_parties if p not in party_ids]
        if unknown:
            raise not_found(f"dispute {dispute.id} has no party {unknown[0]}")
        site = await self.sites.get(dispute.intake_site_id)
        if site is None:
            raise conflict(f"the dispute's intake site {dispute.intake_site_id} is gone")
        by = actor_label(caller)
        hearing = await self.hearings.create(
            {
                "case_number": dispute.number,
                "title": _title(dispute, "调解"),
                "court": site.name,
                "case_type": dispute.type.value,
                "public": new.public,
                "scheduled_at": new.scheduled_at or utc_now(),
                "kind": HearingKind.MEDIATION.value,
            },
            dispute_id=dispute.id,
        )
        minted = [
            await self._add_seat(
                dispute,
                hearing,
                SeatKind.MEDIATOR,
                {"role": "mediator", "name": mediator.name},
                by,
                account_id=mediator.id,
            )
        ]
        remote = set(new.remote_parties)
        for party in dispute.parties:
            wanted: dict[str, Any] = {"role": "party", "name": party.name}
            if party.id not in remote:
                wanted["site"] = site.name
            minted.append(
                await self._add_seat(
                    dispute, hearing, SeatKind.PARTY, wanted, by, party_id=party.id
                )
            )
        if new.kiosk:
            minted.append(
                await self._add_seat(
                    dispute,
                    hearing,
                    SeatKind.KIOSK,
                    {"role": "site", "name": site.name, "site": site.name},
                    by,
                    site_id=site.id,
                )
            )
        log.info(
            "%s scheduled mediation session %s of dispute %s, led by mediator %s",
            by,
            hearing.id,
            dispute.id,
            mediator.id,
        )
        given = [
            m
            for m in minted
            if m.seat.seat is not SeatKind.MEDIATOR or is_admin(caller) or _is(caller, mediator)
        ]
        return await self.session_json(hearing), given

    async def _session(self, dispute: Dispute, hearing_id: str) -> Hearing:
        hearing = await self.hearings.store.get_hearing(hearing_id)
        if (
            hearing is None
            or hearing.dispute_id != dispute.id
            or hearing.kind is not HearingKind.MEDIATION
        ):
            raise not_found(f"dispute {dispute.id} has no mediation session {hearing_id}")
        return hearing

    async def list(self, caller: Account | None, dispute_id: str) -> list[dict[str, Any]]:
        dispute = await self.dispute_for(caller, dispute_id)
        return [
            await self.session_json(h)
            for h in await self.hearings.store.hearings_of_dispute(dispute.id)
            if h.kind is HearingKind.MEDIATION
        ]

    async def call_judge(
        self, caller: Account | None, dispute_id: str, hearing_id: str
    ) -> tuple[dict[str, Any], MintedToken | None]:
        """Call the liaison judge into a session: a judge's seat for the judge guiding the
        dispute (else its intake site's liaison judge). The token goes to that judge (or an
        admin) only: a mediator holding the judge's token could act as the one who outranks
        them. Calling again gives the same seat."""
        dispute = await self._runnable(caller, dispute_id)
        hearing = await self._session(dispute, hearing_id)
        if hearing.state is HearingState.ENDED:
            raise conflict(f"mediation session {hearing.id} has ended")
        judge_id = dispute.judge_id
        if judge_id is None:
            site = await self.sites.get(dispute.intake_site_id)
            judge_id = site.liaison_judge_id if site is not None else None
        judge = await self.accounts.get(judge_id) if judge_id else None
        if judge is None or not judge.active:
            raise conflict(
                f"dispute {dispute.id} has no liaison judge with an active account to call in"
            )
        seat = next(
            (
                s
                for s in await self.seats(hearing.id)
                if s.seat is SeatKind.JUDGE and s.account_id == judge.id and not s.revoked
            ),
            None,
        )
        by = actor_label(caller)
        if seat is None:
            minted = await self._add_seat(
                dispute,
                hearing,
                SeatKind.JUDGE,
                {"role": "judge", "name": judge.name},
                by,
                account_id=judge.id,
            )
            log.info("%s called judge %s into mediation session %s", by, judge.id, hearing.id)
        else:
            minted = self._mint(seat)
        given = minted if is_admin(caller) or _is(caller, judge) else None
        return await self.session_json(hearing), given

    async def my_token(
        self, caller: Account | None, dispute_id: str, hearing_id: str
    ) -> MintedToken:
        """A token for the caller's own seat in the session (the mediator's, the judge's)."""
        if caller is None:
            raise forbidden(
                "the admin key has no seat in a session; it issues tokens with "
                "POST /api/hearings/{hearing_id}/tokens"
            )
        dispute = await self.dispute_for(caller, dispute_id)
        hearing = await self._session(dispute, hearing_id)
        if hearing.state is HearingState.ENDED:
            raise conflict(f"mediation session {hearing.id} has ended")
        for seat in await self.seats(hearing.id):
            if seat.account_id == caller.id and not seat.revoked:
                return self._mint(seat)
        raise forbidden(f"you have no seat in mediation session {hearing.id}")

    # ------------------------------------------------------------------ the court hearing
    async def link_hearing(
        self, caller: Account | None, dispute_id: str, wanted: DisputeHearingLink
    ) -> tuple[Dispute, Hearing]:
        """The hearing of a filed dispute: an existing court hearing, or a new one; the dispute
        moves filed → hearing_scheduled, the event naming the hearing."""
        dispute = await self.dispute_for(caller, dispute_id)
        if not await self.may_file(caller, dispute):
            raise forbidden("the hearing of a filed dispute is scheduled by its liaison judge")
        if dispute.state is not DisputeState.FILED:
            raise conflict(
                f"dispute {dispute.id} is {dispute.state.value}: only a filed dispute is "
                "given a hearing"
            )
        if wanted.hearing_id is not None:
            found = await self.hearings.store.get_hearing(wanted.hearing_id)
            if found is None:
                raise not_found(f"no hearing with id {wanted.hearing_id!r}")
            if found.kind is not HearingKind.HEARING:
                raise conflict(f"hearing {found.id} is a mediation session, not a court hearing")
            linked = await self.hearings.store.link_hearing(found.id, dispute.id)
            if linked is None:
                raise conflict(
                    f"hearing {found.id} has ended or is already held for another dispute"
                )
            hearing = linked
        else:
            new = wanted.hearing
            assert new is not None
            hearing = await self.hearings.create(
                {
                    "case_number": new.case_number,
                    "title": new.title or _title(dispute, ""),
                    "court": new.court,
                    "case_type": new.case_type or "civil",
                    "public": new.public,
                    "scheduled_at": new.scheduled_at,
                    "kind": HearingKind.HEARING.value,
                },
                dispute_id=dispute.id,
            )
        moved = await self.disputes.transition(
            dispute.id,
            DisputeState.HEARING_SCHEDULED,
            actor_label(caller),
            f"排期开庭: {hearing.case_number}",
            {
                "hearing_id": hearing.id,
                "case_number": hearing.case_number,
                "scheduled_at": hearing.to_json()["scheduled_at"],
            },
        )
        return moved, hearing

    async def hearing_of(self, caller: Account | None, dispute_id: str) -> tuple[Dispute, Hearing]:
        dispute = await self.dispute_for(caller, dispute_id)
        hearing = await court_hearing(self.hearings, dispute.id)
        if hearing is None:
            raise not_found(f"dispute {dispute.id} has no hearing scheduled")
        return dispute, hearing


async def court_hearing(hearings: HearingService, dispute_id: str) -> Hearing | None:
    """The court hearing held for a dispute (the latest, if there were several), or None: what
    a dispute's reply shows as its hearing."""
    found = [
        h
        for h in await hearings.store.hearings_of_dispute(dispute_id)
        if h.kind is HearingKind.HEARING
    ]
    return found[-1] if found else None


def _is(caller: Account | None, account: Account) -> bool:
    return caller is not None and caller.id == account.id


def _title(dispute: Dispute, what: str) -> str:
    """张三与李四邻里纠纷调解: the parties' first names on each side and the dispute's type."""
    applicants = [p.name for p in dispute.parties if p.side is Side.APPLICANT]
    respondents = [p.name for p in dispute.parties if p.side is Side.RESPONDENT]
    who = "、".join(applicants[:2]) + ("等" if len(applicants) > 2 else "")
    if respondents:
        who += "与" + "、".join(respondents[:2]) + ("等" if len(respondents) > 2 else "")
    return f"{who}{TYPE_LABELS[dispute.type]}纠纷{what}"[:200]


SESSIONS: web.AppKey[DisputeSessions] = web.AppKey("dispute_sessions", DisputeSessions)


def sessions_of(request: web.Request) -> DisputeSessions:
    return request.app[SESSIONS]
