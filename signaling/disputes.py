"""Disputes: the records (a dispute, its parties, evidence, events), the state machine, and the
service every part of the court network uses to read disputes and move them along it.

A dispute climbs the ladder intake → site mediation → judge-guided mediation → mediated |
failed → filed → hearing scheduled → closed (docs/DISPUTES.md). Every move goes through
:meth:`DisputeService.transition`, which refuses a move the machine does not allow (409) and
logs who, when and why: the SPC's online mediation rules (2021) Art. 21 want the record of why
a mediation failed, and the agreement, confirmation and filing parts (signaling/signing.py, the
filing export) build on the same log. Who may ask for a move is the HTTP layer's question
(signaling/disputes_api.py); this module checks only what the machine allows.
"""

from __future__ import annotations

import builtins
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from signaling.errors import bad_request, conflict, not_found
from signaling.models import utc_now

if TYPE_CHECKING:
    from signaling.accounts import Account
    from signaling.dispute_store import DisputeStore
    from signaling.ladder import Ladder, LadderVersion
    from signaling.sites import Site

log = logging.getLogger("cloudcourt.disputes")


class DisputeState(StrEnum):
    INTAKE = "intake"
    SITE_MEDIATION = "site_mediation"  # the first rung: a site's or the command center's
    JUDGE_MEDIATION = "judge_mediation"  # judge-guided (诉前指导调解)
    MEDIATED = "mediated"
    FAILED = "failed"
    FILED = "filed"  # filed online (网上立案) after a failure
    HEARING_SCHEDULED = "hearing_scheduled"
    CLOSED = "closed"


# The machine: from each state, the states it may move to. Mediation may succeed or fail on
# either rung; only a failure is filed, only a filed dispute is heard; a mediated dispute and a
# heard one are closed.
TRANSITIONS: dict[DisputeState, frozenset[DisputeState]] = {
    DisputeState.INTAKE: frozenset({DisputeState.SITE_MEDIATION, DisputeState.JUDGE_MEDIATION}),
    DisputeState.SITE_MEDIATION: frozenset(
        {DisputeState.JUDGE_MEDIATION, DisputeState.MEDIATED, DisputeState.FAILED}
    ),
    DisputeState.JUDGE_MEDIATION: frozenset({DisputeState.MEDIATED, DisputeState.FAILED}),
    DisputeState.MEDIATED: frozenset({DisputeState.CLOSED}),
    DisputeState.FAILED: frozenset({DisputeState.FILED}),
    DisputeState.FILED: frozenset({DisputeState.HEARING_SCHEDULED}),
    DisputeState.HEARING_SCHEDULED: frozenset({DisputeState.CLOSED}),
    DisputeState.CLOSED: frozenset(),
}
# Moves that need a reason in the record: an escalation says why the first rung did not
# settle it, a failure says why mediation failed (SPC online mediation rules 2021, Art. 21).
REASON_REQUIRED = frozenset({DisputeState.JUDGE_MEDIATION, DisputeState.FAILED})
MEDIATING = frozenset({DisputeState.SITE_MEDIATION, DisputeState.JUDGE_MEDIATION})


class DisputeType(StrEnum):
    FAMILY = "family"
    NEIGHBOUR = "neighbour"
    SALE = "sale"
    FINANCE = "finance"
    PROPERTY = "property"
    TRAFFIC = "traffic"
    CONSTRUCTION = "construction"
    TOURISM = "tourism"
    LABOUR = "labour"
    OTHER = "other"


TYPE_LABELS: dict[DisputeType, str] = {
    DisputeType.FAMILY: "家事",
    DisputeType.NEIGHBOUR: "邻里",
    DisputeType.SALE: "买卖",
    DisputeType.FINANCE: "金融",
    DisputeType.PROPERTY: "物业",
    DisputeType.TRAFFIC: "道交",
    DisputeType.CONSTRUCTION: "建筑",
    DisputeType.TOURISM: "旅游",
    DisputeType.LABOUR: "劳动",
    DisputeType.OTHER: "其他",
}


class Side(StrEnum):
    APPLICANT = "applicant"  # 申请人
    RESPONDENT = "respondent"  # 被申请人


class HandlerLevel(StrEnum):
    SITE = "site"
    COMMAND_CENTER = "command_center"  # 诉源治理指挥中心; accounts with role `command`
    JUDGE = "judge"


class MediatorStatus(StrEnum):
    APPOINTED = "appointed"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Handler:
    """Who mediates the dispute now. ``site_id``: the site (for ``judge``, the site whose
    liaison judge guides it); None for the command center."""

    level: HandlerLevel
    site_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level.value, "site_id": self.site_id}


@dataclass(frozen=True, slots=True)
class DisputeParty:
    id: str
    side: Side
    name: str
    id_number: str  # whole here; masked in every reply (mask_id_number)
    phone: str
    address: str  # the service address (送达地址)
    village: str
    township: str
    consents: dict[str, bool]  # {"online_mediation": …, "electronic_service": …}


@dataclass(frozen=True, slots=True)
class Dispute:
    id: str
    number: str
    intake_site_id: str
    type: DisputeType
    summary: str
    state: DisputeState
    handler: Handler
    mediator_id: str | None
    judge_id: str | None
    parties: tuple[DisputeParty, ...]
    received_at: str
    created_at: str
    updated_at: str
    mediator_status: MediatorStatus | None = None
    mediator_appointed_at: str | None = None
    mediator_answered_at: str | None = None
    ladder_version: int = 0
    rule_id: str = ""
    # What a failure of the first rung leads to: "failed", or "judge_mediation" (the police
    # ladder's second step), as the routing rule said when the dispute was taken in.
    on_failure: str = DisputeState.FAILED.value
    intake_by: str = ""
    mediation_ended_at: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    id: str
    dispute_id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: str


@dataclass(frozen=True, slots=True)
class DisputeEvent:
    seq: int
    at: str
    actor: str
    from_state: DisputeState | None
    to_state: DisputeState
    reason: str | None
    detail: dict[str, Any] = field(default_factory=dict)


def new_dispute_id() -> str:
    return "d_" + secrets.token_hex(8)


def new_party_id() -> str:
    return "dp_" + secrets.token_hex(8)


def new_evidence_id() -> str:
    return "e_" + secrets.token_hex(8)


# ---------------------------------------------------------------- personal data, as shown


def mask_id_number(value: str) -> str:
    """110101199003071234 → 110101********1234: the region and the last four stay, which is
    what a clerk reads to tell two parties apart; the birth date goes."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """13812345678 → 138****5678."""
    digits = value.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def party_json(party: DisputeParty, *, whole: bool = False) -> dict[str, Any]:
    """A party as replies show it: ID number and phone masked unless ``whole`` (only the
    filing export, for the court's own filing system)."""
    return {
        "id": party.id,
        "side": party.side.value,
        "name": party.name,
        "id_number": party.id_number if whole else mask_id_number(party.id_number),
        "phone": party.phone if whole else mask_phone(party.phone),
        "address": party.address,
        "village": party.village,
        "township": party.township,
        "consents": dict(party.consents),
    }


def event_json(event: DisputeEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor,
        "from_state": event.from_state.value if event.from_state else None,
        "to_state": event.to_state.value,
        "reason": event.reason,
        "detail": event.detail,
    }


def evidence_json(item: Evidence) -> dict[str, Any]:
    return {
        "id": item.id,
        "dispute_id": item.dispute_id,
        "filename": item.filename,
        "media_type": item.media_type,
        "size": item.size,
        "sha256": item.sha256,
        "uploaded_by": item.uploaded_by,
        "uploaded_at": item.uploaded_at,
    }


def actor_label(caller: Account | None) -> str:
    """Who did it, as the event log records it: the account's role, name and id."""
    if caller is None:
        return "admin key"
    return f"{caller.role.value} {caller.name} ({caller.id})"


# ---------------------------------------------------------------- the service


class SiteDirectory(Protocol):
    """What the disputes need of the sites (signaling/sites.py SiteService)."""

    async def get(self, site_id: str) -> Site | None: ...

    async def list(self, include_retired: bool = False) -> builtins.list[Site]: ...

    async def visible_to(
        self, caller: Account | None, include_retired: bool = False
    ) -> builtins.list[Site]: ...


@dataclass(frozen=True, slots=True)
class Intake:
    """A dispute as the officer takes it in (validated by signaling/schemas_disputes.py)."""

    intake_site_id: str
    type: DisputeType
    summary: str
    parties: tuple[DisputeParty, ...]
    received_at: str | None  # None: now


class DisputeService:
    """Reads and moves disputes; the only writer of their state.

    ``sites`` is a function, not the service itself: the sites' service is put on the app by
    its own module, and is looked up when first needed rather than at wiring time.
    """

    def __init__(self, store: DisputeStore, sites: Callable[[], SiteDirectory]) -> None:
        self.store = store
        self._sites = sites

    @property
    def sites(self) -> SiteDirectory:
        return self._sites()

    # ------------------------------------------------------------ ladder
    async def ladder(self) -> LadderVersion:
        return await self.store.current_ladder()

    async def set_ladder(self, ladder: Ladder, changed_by: str, note: str | None) -> LadderVersion:
        """A new version of the rule table; disputes already taken in keep their routing."""
        return await self.store.add_ladder(ladder, changed_by, note)

    async def ladder_history(self) -> list[LadderVersion]:
        return await self.store.ladder_versions()

    # ------------------------------------------------------------ intake
    async def intake(self, intake: Intake, actor: str) -> Dispute:
        """Take a dispute in at a site and route it by the current ladder: the first rule that
        matches (signaling/ladder.py) says who mediates it first."""
        from signaling.ladder import evaluate

        site = await self.sites.get(intake.intake_site_id)
        if site is None:
            raise not_found(f"no site {intake.intake_site_id}")
        if site.retired_at is not None:
            raise conflict(f"site {site.id} is retired and takes in no disputes")
        version = await self.store.current_ladder()
        sites = await self.sites.list()
        route = evaluate(version.ladder, site, sites, intake.type, intake.parties)
        now = utc_now()
        # Stored already routed, with both events (taken in; routed) in one transaction: no
        # dispute is ever left in `intake` by a crash between the two.
        dispute = Dispute(
            id=new_dispute_id(),
            number="",  # given by the store, in the transaction that counts the year's disputes
            intake_site_id=site.id,
            type=intake.type,
            summary=intake.summary,
            state=route.state,
            handler=route.handler,
            mediator_id=None,
            judge_id=route.judge_id,
            parties=intake.parties,
            received_at=intake.received_at or now,
            created_at=now,
            updated_at=now,
            ladder_version=version.version,
            rule_id=route.rule_id,
            on_failure=route.on_failure,
            intake_by=actor,
        )
        routing = {
            "ladder_version": version.version,
            "rule_id": route.rule_id,
            "handler": route.handler.to_json(),
        }
        created = await self.store.create(
            dispute,
            actor,
            _number_prefix(site),
            f"路由规则 {route.rule_id}：{route.label}",
            routing,
        )
        log.info(
            "dispute %s taken in at %s by %s: rule %s of ladder v%d → %s",
            created.id,
            site.id,
            actor,
            route.rule_id,
            version.version,
            route.describe(),
        )
        return created

    # ------------------------------------------------------------ reading
    async def get(self, dispute_id: str) -> Dispute:
        """The dispute, or 404."""
        found = await self.store.get(dispute_id)
        if found is None:
            raise not_found(f"no dispute {dispute_id}")
        return found

    async def find(self, dispute_id: str) -> Dispute | None:
        return await self.store.get(dispute_id)

    async def events(self, dispute_id: str) -> list[DisputeEvent]:
        return await self.store.events(dispute_id)

    async def evidence(self, dispute_id: str) -> list[Evidence]:
        return await self.store.evidence(dispute_id)

    async def failure_record(self, dispute_id: str) -> DisputeEvent | None:
        """The event that failed the dispute, with its reason (SPC 2021 Art. 21), if it failed:
        the last move into ``failed``. A police mediation that failed and went on to a judge is
        an event into ``judge_mediation`` with ``detail.failed_step``, not this one."""
        for event in reversed(await self.store.events(dispute_id)):
            # A note on a failed dispute (failed → failed) is not what failed it.
            if event.to_state is DisputeState.FAILED and event.from_state is not event.to_state:
                return event
        return None

    async def visible(self, caller: Account | None, dispute: Dispute) -> bool:
        """Whether ``caller`` may see ``dispute``: the admin key, admin and command accounts see
        all; an officer, the disputes taken in at or handled by their site; a judge, their
        sites' disputes and those they guide; a mediator, the disputes they are appointed to
        (appointed or accepted, not declined)."""
        if caller is None or caller.role.value in ("admin", "command"):
            return True
        if caller.role.value == "mediator":
            # A mediator who declined the appointment has no more business with the dispute
            # (nor one replaced after declining): seeing it needs a standing appointment.
            return dispute.mediator_id == caller.id and dispute.mediator_status in (
                MediatorStatus.APPOINTED,
                MediatorStatus.ACCEPTED,
            )
        if caller.role.value == "judge" and dispute.judge_id == caller.id:
            return True
        return bool(self.site_ids(dispute) & await self._visible_site_ids(caller))

    async def _visible_site_ids(self, caller: Account | None) -> set[str]:
        # Retired sites too: their disputes stay their people's to see.
        return {s.id for s in await self.sites.visible_to(caller, include_retired=True)}

    @staticmethod
    def site_ids(dispute: Dispute) -> set[str]:
        return {dispute.intake_site_id} | (
            {dispute.handler.site_id} if dispute.handler.site_id else set()
        )

    async def listing(
        self,
        caller: Account | None,
        *,
        state: DisputeState | None = None,
        site_id: str | None = None,
    ) -> list[Dispute]:
        """What ``caller`` may see (as :meth:`visible`), newest first, filtered."""
        if caller is None or caller.role.value in ("admin", "command"):
            found = await self.store.listing(state=state, site_id=site_id)
        elif caller.role.value == "mediator":
            found = await self.store.listing(state=state, site_id=site_id, mediator_id=caller.id)
        else:
            site_ids = await self._visible_site_ids(caller)
            judge_id = caller.id if caller.role.value == "judge" else None
            found = await self.store.listing(
                state=state, site_id=site_id, site_ids=site_ids, judge_id=judge_id
            )
        return found

    # ------------------------------------------------------------ moving
    async def transition(
        self,
        dispute_id: str,
        to: DisputeState,
        actor_label: str,
        reason: str,
        detail: dict[str, Any] | None = None,
    ) -> Dispute:
        """Move the dispute to ``to`` if the machine allows it from where it is (409 if not),
        logging who, when and why. A move into ``judge_mediation`` hands the dispute to the
        liaison judge of its intake site (``detail["judge_id"]`` names another); a failure of
        the first rung of a dispute whose rule says ``on_failure: judge_mediation`` (the police
        ladder) goes on to judge mediation instead of ending, recorded as such."""
        dispute = await self.get(dispute_id)
        reason = reason.strip()
        self.check_move(dispute, to, reason)
        detail = dict(detail or {})
        judge_hint = detail.pop("judge_id", None)  # only for a move into judge mediation
        changes: dict[str, Any] = {}
        target = to
        if (
            to is DisputeState.FAILED
            and dispute.state is DisputeState.SITE_MEDIATION
            and dispute.on_failure == DisputeState.JUDGE_MEDIATION.value
        ):
            target = DisputeState.JUDGE_MEDIATION
            detail["failed_step"] = DisputeState.SITE_MEDIATION.value
            detail["rule_id"] = dispute.rule_id
        if target is DisputeState.JUDGE_MEDIATION:
            changes.update(await self._to_judge(dispute, detail, judge_hint))
        if target in (DisputeState.MEDIATED, DisputeState.FAILED):
            changes["mediation_ended_at"] = utc_now()
        moved = await self.store.move(
            dispute.id, dispute.state, target, actor_label, reason or None, detail, changes
        )
        log.info(
            "dispute %s: %s → %s by %s (%s)",
            dispute.id,
            dispute.state.value,
            target.value,
            actor_label,
            reason or "no reason given",
        )
        return moved

    @staticmethod
    def check_move(dispute: Dispute, to: DisputeState, reason: str | None = None) -> None:
        """409 if the machine does not allow ``to`` from the dispute's state; 400 if the move
        needs a reason and ``reason`` (when given) is empty."""
        allowed = TRANSITIONS[dispute.state]
        if to not in allowed:
            nexts = ", ".join(sorted(s.value for s in allowed)) or "none (it is closed)"
            raise conflict(
                f"dispute {dispute.id} is {dispute.state.value}; it cannot move to "
                f"{to.value} (from {dispute.state.value}: {nexts})"
            )
        if reason is not None and to in REASON_REQUIRED and not reason.strip():
            raise bad_request(f"a move to {to.value} needs a reason: the record says why")

    async def _to_judge(
        self, dispute: Dispute, detail: dict[str, Any], judge_id: object
    ) -> dict[str, Any]:
        if not isinstance(judge_id, str) or not judge_id:
            site = await self.sites.get(dispute.intake_site_id)
            judge_id = site.liaison_judge_id if site is not None else None
        if judge_id is None:
            raise conflict(
                f"site {dispute.intake_site_id} has no liaison judge to guide the mediation; "
                "the admin sets one on the site first"
            )
        detail["judge_id"] = judge_id
        return {
            "handler_level": HandlerLevel.JUDGE.value,
            "handler_site_id": dispute.intake_site_id,
            "judge_id": judge_id,
        }

    async def note(
        self,
        dispute_id: str,
        actor_label: str,
        reason: str,
        detail: dict[str, Any] | None = None,
    ) -> DisputeEvent:
        """Log an event in the dispute's history that moves nothing (``from_state ==
        to_state``): e.g. a refused agreement or a refused judicial confirmation, so the
        dispute's events show it beside its moves. ``reason`` says what happened and why (400
        if empty); ``detail`` carries what else the record needs (JSON values). 404 if there
        is no such dispute. Whatever the dispute's state, and whatever changed meanwhile: it
        records a fact."""
        reason = reason.strip()
        if not reason:
            raise bad_request("a note in a dispute's history needs a reason: the record says why")
        event = await self.store.remark(dispute_id, actor_label, reason, dict(detail or {}))
        log.info(
            "dispute %s: noted in %s by %s (%s)",
            dispute_id,
            event.to_state.value,
            actor_label,
            reason,
        )
        return event

    # ------------------------------------------------------------ the command center
    async def dispatch(self, dispute_id: str, site_id: str, actor: str, reason: str) -> Dispute:
        """The command center hands a dispute it handles to a site (分流), which mediates it
        from then on (and appoints its own mediator: an appointment the command center made is
        withdrawn unless accepted). Logged; the state stays ``site_mediation``."""
        dispute = await self.get(dispute_id)
        if (
            dispute.state is not DisputeState.SITE_MEDIATION
            or dispute.handler.level is not HandlerLevel.COMMAND_CENTER
        ):
            raise conflict(
                f"dispute {dispute.id} is not in the command center's mediation "
                f"({dispute.state.value}, handled by {dispute.handler.level.value}); only such "
                "a dispute is dispatched"
            )
        site = await self.sites.get(site_id)
        if site is None or site.retired_at is not None:
            raise bad_request(f"'site_id' must name a site in service; {site_id} is not one")
        changes: dict[str, Any] = {
            "handler_level": HandlerLevel.SITE.value,
            "handler_site_id": site.id,
        }
        if dispute.mediator_status is not MediatorStatus.ACCEPTED:
            changes.update(
                mediator_id=None,
                mediator_status=None,
                mediator_appointed_at=None,
                mediator_answered_at=None,
            )
        return await self.store.note(
            dispute,
            actor,
            reason or None,
            {"action": "dispatched", "handler": Handler(HandlerLevel.SITE, site.id).to_json()},
            changes,
        )

    # ------------------------------------------------------------ the mediator
    async def appoint_mediator(self, dispute_id: str, mediator_id: str, actor: str) -> Dispute:
        """Appoint (or re-appoint after a decline) the dispute's mediator (SPC 2021 Arts.
        10–15); logged, the state unchanged."""
        dispute = await self.get(dispute_id)
        if dispute.state not in MEDIATING:
            raise conflict(
                f"dispute {dispute.id} is {dispute.state.value}: a mediator is appointed only "
                "while it is being mediated"
            )
        if dispute.mediator_status is MediatorStatus.ACCEPTED:
            raise conflict(
                f"mediator {dispute.mediator_id} has accepted dispute {dispute.id}; the "
                "mediator is not replaced once they have accepted"
            )
        now = utc_now()
        return await self.store.note(
            dispute,
            actor,
            None,
            {"action": "mediator_appointed", "mediator_id": mediator_id},
            {
                "mediator_id": mediator_id,
                "mediator_status": MediatorStatus.APPOINTED.value,
                "mediator_appointed_at": now,
                "mediator_answered_at": None,
            },
        )

    async def answer_mediator(
        self, dispute_id: str, accept: bool, mediator_id: str | None, actor: str, reason: str
    ) -> Dispute:
        """The appointed mediator accepts or declines (with a reason) the appointment.
        ``mediator_id`` None: on the mediator's behalf (the admin key)."""
        dispute = await self.get(dispute_id)
        if dispute.mediator_status is not MediatorStatus.APPOINTED:
            status = dispute.mediator_status.value if dispute.mediator_status else "none"
            raise conflict(
                f"dispute {dispute.id} has no appointment waiting for an answer "
                f"(mediator: {status})"
            )
        if mediator_id is not None and dispute.mediator_id != mediator_id:
            raise conflict(f"dispute {dispute.id}'s appointment is another mediator's to answer")
        status = MediatorStatus.ACCEPTED if accept else MediatorStatus.DECLINED
        return await self.store.note(
            dispute,
            actor,
            reason or None,
            {"action": f"mediator_{status.value}", "mediator_id": dispute.mediator_id},
            {"mediator_status": status.value, "mediator_answered_at": utc_now()},
        )

    # ------------------------------------------------------------ evidence
    async def add_evidence(self, item: Evidence) -> Evidence:
        await self.store.add_evidence(item)
        return item

    async def evidence_item(self, dispute_id: str, evidence_id: str) -> Evidence:
        for item in await self.store.evidence(dispute_id):
            if item.id == evidence_id:
                return item
        raise not_found(f"dispute {dispute_id} has no evidence {evidence_id}")


def _number_prefix(site: Site) -> str:
    """The human number's prefix: the intake site's township, e.g. 青山镇 → 青山镇调〔2026〕12号."""
    return site.township or site.name


def dispute_number(prefix: str, year: int, n: int) -> str:
    return f"{prefix}调〔{year}〕{n}号"


def year_of(moment: str) -> int:
    return datetime.fromisoformat(moment).astimezone(UTC).year


def with_parties(dispute: Dispute, parties: tuple[DisputeParty, ...]) -> Dispute:
    return replace(dispute, parties=parties)


DISPUTES: web.AppKey[DisputeService] = web.AppKey("disputes", DisputeService)


def disputes_of(request: web.Request) -> DisputeService:
    return request.app[DISPUTES]
