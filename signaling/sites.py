"""Sites of the court network (云法庭 / 共享法庭): where they are, who serves them, and who may
see and act for each.

A site has one liaison judge (联系法官), one site officer (庭务主任, or the police officer at a
station), mediators, grid members (网格员, local contacts), equipment, and for an association
site the trades (dispute types) it takes. A retired site is kept (disputes refer to it) but
flagged, and takes no new disputes. The SQL is in ``site_store``; the routes in ``sites_api``;
the kiosks bound to a site in ``devices``.
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiohttp import web

from signaling.account_auth import is_admin
from signaling.accounts import Account, AccountRole
from signaling.errors import bad_request, conflict, forbidden, not_found
from signaling.models import utc_now

if TYPE_CHECKING:
    from signaling.account_store import AccountStore
    from signaling.site_store import SiteStore


class SiteKind(StrEnum):
    TOWNSHIP = "township"  # 乡镇(街道)云法庭
    VILLAGE = "village"  # 社区(村)云法庭
    ASSOCIATION = "association"  # 部门(协会)云法庭
    POLICE = "police"  # 警法诉讼服务共享平台


KIND_NAMES: dict[SiteKind, str] = {
    SiteKind.TOWNSHIP: "乡镇(街道)云法庭",
    SiteKind.VILLAGE: "社区(村)云法庭",
    SiteKind.ASSOCIATION: "部门(协会)云法庭",
    SiteKind.POLICE: "警法诉讼服务共享平台",
}


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits of a mobile number; a shorter number
    (a landline extension) keeps only its last two."""
    if len(phone) >= 11:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    if len(phone) > 2:
        return "*" * (len(phone) - 2) + phone[-2:]
    return "*" * len(phone)


@dataclass(frozen=True)
class GridMember:
    """A grid member (网格员): the local contact who knows the households of an area."""

    name: str
    phone: str | None = None
    area: str | None = None

    def to_json(self, *, masked: bool = True) -> dict[str, Any]:
        phone = self.phone
        if phone is not None and masked:
            phone = mask_phone(phone)
        return {"name": self.name, "phone": phone, "area": self.area}


@dataclass(frozen=True)
class Site:
    id: str
    kind: SiteKind
    name: str
    county: str
    township: str
    village: str | None
    address: str
    liaison_judge_id: str | None
    officer_id: str | None
    mediator_ids: tuple[str, ...]
    grid_members: tuple[GridMember, ...]
    equipment: tuple[str, ...]
    trades: tuple[str, ...]
    retired_at: str | None
    created_at: str
    updated_at: str

    @property
    def retired(self) -> bool:
        return self.retired_at is not None

    def to_json(self) -> dict[str, Any]:
        """Phone numbers of grid members masked (the only form any reply carries)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "kind_name": KIND_NAMES[self.kind],
            "name": self.name,
            "county": self.county,
            "township": self.township,
            "village": self.village,
            "address": self.address,
            "liaison_judge_id": self.liaison_judge_id,
            "officer_id": self.officer_id,
            "mediator_ids": list(self.mediator_ids),
            "grid_members": [g.to_json() for g in self.grid_members],
            "equipment": list(self.equipment),
            "trades": list(self.trades),
            "retired": self.retired,
            "retired_at": self.retired_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def new_site_id() -> str:
    return "s_" + secrets.token_hex(8)


# Which account role each of a site's people must have.
_PEOPLE_ROLES = {
    "liaison_judge_id": AccountRole.JUDGE,
    "officer_id": AccountRole.OFFICER,
    "mediator_ids": AccountRole.MEDIATOR,
}


def may_see(caller: Account | None, site: Site) -> bool:
    """The admin key, admin and command accounts: every site; a judge: the sites they are
    liaison judge of; an officer: theirs; a mediator: those they mediate for."""
    if is_admin(caller) or (caller is not None and caller.role is AccountRole.COMMAND):
        return True
    return serves(caller, site)


def serves(caller: Account | None, site: Site) -> bool:
    """Whether the account is one of the site's own people (judge, officer, mediator)."""
    if caller is None:
        return False
    if caller.role is AccountRole.JUDGE:
        return site.liaison_judge_id == caller.id
    if caller.role is AccountRole.OFFICER:
        return site.officer_id == caller.id
    if caller.role is AccountRole.MEDIATOR:
        return caller.id in site.mediator_ids
    return False


class SiteService:
    def __init__(self, store: SiteStore, accounts: AccountStore) -> None:
        self.store = store
        self.accounts = accounts

    async def get(self, site_id: str) -> Site | None:
        return await self.store.get(site_id)

    async def require(self, site_id: str) -> Site:
        site = await self.store.get(site_id)
        if site is None:
            raise not_found(f"no site {site_id}")
        return site

    async def list(self, include_retired: bool = False) -> list[Site]:
        return [s for s in await self.store.list() if include_retired or not s.retired]

    async def visible_to(
        self, caller: Account | None, include_retired: bool = False
    ) -> builtins.list[Site]:
        return [s for s in await self.list(include_retired) if may_see(caller, s)]

    async def acts_for(self, caller: Account | None, site_id: str) -> bool:
        """The admin key and admin accounts; the site's officer, liaison judge or a mediator of
        it. (The command center sees every site but acts through the sites' own people.)"""
        if is_admin(caller):
            return True
        site = await self.store.get(site_id)
        return site is not None and serves(caller, site)

    # ------------------------------------------------------------------ changes
    async def register(self, **fields: Any) -> Site:
        now = utc_now()
        site = Site(
            id=new_site_id(),
            kind=SiteKind(fields["kind"]),
            name=fields["name"],
            county=fields["county"],
            township=fields["township"],
            village=fields.get("village"),
            address=fields["address"],
            liaison_judge_id=fields.get("liaison_judge_id"),
            officer_id=fields.get("officer_id"),
            mediator_ids=tuple(fields.get("mediator_ids", ())),
            grid_members=tuple(fields.get("grid_members", ())),
            equipment=tuple(fields.get("equipment", ())),
            trades=tuple(fields.get("trades", ())),
            retired_at=None,
            created_at=now,
            updated_at=now,
        )
        await self._check(site)
        await self.store.create(site)
        return site

    async def update(
        self, site_id: str, changes: dict[str, Any], *, officer_id: str | None = None
    ) -> Site:
        """``changes``: any of the site's fields but its id and times (lists as tuples;
        ``grid_members`` as sent, see ``grid_members_from``). ``officer_id``: the edit is the
        site officer's own, allowed only while they are the site's officer when it is written
        (an administrator removing them at the same moment wins)."""
        await self._check_people(changes)

        def edit(site: Site) -> dict[str, Any]:
            if site.retired:
                raise conflict(f"site {site_id} is retired; a retired site is kept as it was")
            if officer_id is not None and site.officer_id != officer_id:
                raise forbidden("only an administrator or the site's own officer may edit a site")
            edited = dict(changes)
            if "grid_members" in edited:
                edited["grid_members"] = grid_members_from(edited["grid_members"], site)
            _check_shape(replace(site, **edited))
            return edited

        return await self.store.change(site_id, edit, utc_now())

    async def retire(self, site_id: str) -> Site:
        def edit(site: Site) -> dict[str, Any]:
            if site.retired:
                raise conflict(f"site {site_id} was retired at {site.retired_at}")
            return {"retired_at": utc_now()}

        return await self.store.change(site_id, edit, utc_now())

    async def _check(self, site: Site) -> None:
        _check_shape(site)
        await self._check_people(
            {
                "liaison_judge_id": site.liaison_judge_id,
                "officer_id": site.officer_id,
                "mediator_ids": site.mediator_ids,
            }
        )

    async def _check_people(self, fields: dict[str, Any]) -> None:
        """The people named have accounts of the right role, active. An edit checks the people
        it changes: a judge deactivated later does not make every other edit of the site fail."""
        named: dict[str, list[str]] = {}
        for field in _PEOPLE_ROLES:
            if field not in fields or not fields[field]:
                continue
            value = fields[field]
            named[field] = [value] if isinstance(value, str) else list(value)
        if len(set(named.get("mediator_ids", []))) != len(named.get("mediator_ids", [])):
            raise bad_request("'mediator_ids' names a mediator twice")
        found = await self.accounts.many([i for ids in named.values() for i in ids])
        for field, ids in named.items():
            role = _PEOPLE_ROLES[field]
            for account_id in ids:
                account = found.get(account_id)
                if account is None or account.role is not role or not account.active:
                    raise bad_request(
                        f"'{field}' must name an active {role.value} account; "
                        f"{account_id} is not one"
                    )


def _check_shape(site: Site) -> None:
    """The rules a site's fields must keep together (each field's own form is the request
    model's): a village site names its village; only an association site takes trades."""
    if site.kind is SiteKind.VILLAGE and not site.village:
        raise bad_request("'village' is required for a village (社区(村)) site")
    if site.trades and site.kind is not SiteKind.ASSOCIATION:
        raise bad_request("'trades' are for an association (部门(协会)) site only")


def grid_members_from(given: list[dict[str, Any]], site: Site | None) -> tuple[GridMember, ...]:
    """The grid members as sent. Replies mask phone numbers, so a page that edits the list sends
    back what it was shown: a masked number that is the masked form of the number this member
    (by name) has is kept as stored; any other masked number is refused."""
    known = site.grid_members if site is not None else ()
    stored = {g.name: g.phone for g in known if g.phone}
    members = []
    for n, g in enumerate(given):
        phone = g["phone"]
        if phone is not None and "*" in phone:
            kept = stored.get(g["name"])
            if kept is None or mask_phone(kept) != phone:
                raise bad_request(
                    f"'grid_members.{n}.phone' is masked; send the whole number, or the masked "
                    "number this member was shown with"
                )
            phone = kept
        members.append(GridMember(name=g["name"], phone=phone, area=g["area"]))
    return tuple(members)


SITES: web.AppKey[SiteService] = web.AppKey("sites", SiteService)


def sites_of(request: web.Request) -> SiteService:
    return request.app[SITES]
