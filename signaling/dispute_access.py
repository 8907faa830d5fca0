"""Who may act on a dispute (seeing it is ``DisputeService.visible``): one table of who moves
it where, appoints its mediator, adds its evidence.

- the admin key and ``admin`` accounts: everything;
- the liaison judge of the dispute's intake or handling site, and the judge guiding it: every
  move (a liaison judge may take any of their sites' disputes up to judge mediation);
- the command center (role ``command``): the disputes it handles (cross-village ones);
- the handling site's officer: the first rung (site mediation: escalate, mediated, failed),
  and closing what was mediated;
- the appointed mediator, once they accepted: the outcome of the mediation they were
  appointed to, and its evidence;
- the intake site's officer: filing a failed dispute online on the party's behalf;
- a hearing is scheduled by a judge only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signaling.disputes import Dispute, DisputeService, DisputeState, HandlerLevel

if TYPE_CHECKING:
    from signaling.accounts import Account


def _role(caller: Account | None) -> str:
    return "admin" if caller is None else caller.role.value


async def is_judge_of(caller: Account | None, dispute: Dispute, service: DisputeService) -> bool:
    if caller is None or _role(caller) != "judge":
        return False
    if dispute.judge_id == caller.id:
        return True
    for site_id in service.site_ids(dispute):
        site = await service.sites.get(site_id)
        if site is not None and site.liaison_judge_id == caller.id:
            return True
    return False


async def handles(caller: Account | None, dispute: Dispute, service: DisputeService) -> bool:
    """Whether ``caller`` is (of) the dispute's current handler."""
    if caller is None or _role(caller) == "admin":
        return True
    level = dispute.handler.level
    if level is HandlerLevel.COMMAND_CENTER:
        return _role(caller) == "command"
    if level is HandlerLevel.JUDGE:
        return _role(caller) == "judge" and dispute.judge_id == caller.id
    if dispute.handler.site_id is None:
        return False
    site = await service.sites.get(dispute.handler.site_id)
    if site is None:
        return False
    # A site's mediators act on the disputes they are appointed to (is_mediator_of), not on
    # all of the site's: they see only those.
    return _role(caller) == "officer" and site.officer_id == caller.id


def is_mediator_of(caller: Account | None, dispute: Dispute) -> bool:
    return (
        caller is not None
        and _role(caller) == "mediator"
        and dispute.mediator_id == caller.id
        and dispute.mediator_status is not None
        and dispute.mediator_status.value == "accepted"
    )


async def may_move(
    caller: Account | None, dispute: Dispute, to: DisputeState, service: DisputeService
) -> bool:
    if caller is None or _role(caller) == "admin":
        return True
    if await is_judge_of(caller, dispute, service):
        return True
    if to is DisputeState.HEARING_SCHEDULED:
        return False
    if to is DisputeState.FILED:
        site = await service.sites.get(dispute.intake_site_id)
        return _role(caller) == "officer" and site is not None and site.officer_id == caller.id
    if dispute.state is DisputeState.SITE_MEDIATION:
        return await handles(caller, dispute, service) or is_mediator_of(caller, dispute)
    if dispute.state is DisputeState.JUDGE_MEDIATION:
        return is_mediator_of(caller, dispute)
    if dispute.state is DisputeState.MEDIATED and to is DisputeState.CLOSED:
        return await handles(caller, dispute, service)
    return False


async def may_appoint(caller: Account | None, dispute: Dispute, service: DisputeService) -> bool:
    """The handler appoints the mediator (the site for its mediation, the command center for
    its disputes, the judge for judge-guided mediation); a liaison judge may too."""
    if await is_judge_of(caller, dispute, service):
        return True
    if caller is not None and _role(caller) == "mediator":
        return False  # a mediator does not appoint (themselves or others)
    return await handles(caller, dispute, service)


async def may_add_evidence(
    caller: Account | None, dispute: Dispute, service: DisputeService
) -> bool:
    """Anyone working on the dispute: its handler, its judge, its mediator once they accepted
    the appointment (not one merely appointed, nor one who declined), and the officer of the
    site that took it in (who brings the parties' papers)."""
    if await handles(caller, dispute, service) or await is_judge_of(caller, dispute, service):
        return True
    if is_mediator_of(caller, dispute):
        return True
    site = await service.sites.get(dispute.intake_site_id)
    return (
        caller is not None
        and _role(caller) == "officer"
        and site is not None
        and site.officer_id == caller.id
    )
