"""HTTP routes of sites and their kiosks: register, edit and retire sites; enrol and revoke
kiosk devices; the kiosk's heartbeat (docs/NETWORK.md).

Credentials are checked first, then the site is looked up (404), then whether the caller may
see it (403): an officer of site A learns nothing of site B but that it exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from signaling.account_auth import account_caller, caller_label, is_admin, require_roles
from signaling.account_store import AccountStore
from signaling.accounts import Account, AccountRole
from signaling.auth import bearer
from signaling.context import services
from signaling.devices import DEVICES, Device, DeviceService, devices_of
from signaling.errors import conflict, forbidden, not_found, unauthorized
from signaling.http_api import read_json, reply
from signaling.kiosk_today import kiosk_seat, todays_hearings
from signaling.models import HearingState
from signaling.openapi import Response, operation
from signaling.replies_network import (
    DeviceEnrolled,
    DeviceReply,
    KioskStatus,
    KioskToken,
    SiteList,
    SiteReply,
)
from signaling.roles import Role
from signaling.schemas_network import DeviceEnrol, Heartbeat, NewSite, SiteChanges, SitesQuery
from signaling.schemas_parse import body, query
from signaling.site_store import SiteStore
from signaling.sites import (
    KIND_NAMES,
    SITES,
    Site,
    SiteKind,
    SiteService,
    grid_members_from,
    may_see,
    serves,
    sites_of,
)
from signaling.store import SqliteStore

routes = web.RouteTableDef()

# What a site officer may change of their own site: what is in the room and who the local
# contacts are. Where the site is, what kind it is and who serves it are the court's to decide.
OFFICER_FIELDS = frozenset({"equipment", "grid_members"})
# How often the kiosk page sends its heartbeat (the offline setting allows for lost ones).
HEARTBEAT_SECONDS = 15

ACCOUNT_STORE: web.AppKey[AccountStore] = web.AppKey("account_store", AccountStore)


def _person(account: Account | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {"id": account.id, "name": account.name, "active": account.active}


async def sites_json(
    request: web.Request, caller: Account | None, sites: list[Site]
) -> list[dict[str, Any]]:
    """Each site as the API shows it: its record, its people's names, its kiosks and whether it
    is online, and whether the caller acts for it."""
    people = await request.app[ACCOUNT_STORE].many(
        sorted(
            {
                i
                for s in sites
                for i in (s.liaison_judge_id, s.officer_id, *s.mediator_ids)
                if i is not None
            }
        )
    )
    devices = devices_of(request)
    statuses = await devices.statuses([s.id for s in sites])
    out = []
    for site in sites:
        status = statuses[site.id]
        out.append(
            {
                **site.to_json(),
                "liaison_judge": _person(people.get(site.liaison_judge_id or "")),
                "officer": _person(people.get(site.officer_id or "")),
                "mediators": [
                    p for i in site.mediator_ids if (p := _person(people.get(i))) is not None
                ],
                "online": status.online,
                "last_heartbeat_at": status.last_heartbeat_at,
                "devices": [d.to_json(devices.online(d)) for d in status.devices],
                "may_act": is_admin(caller) or serves(caller, site),
            }
        )
    return out


async def _visible_site(request: web.Request) -> tuple[Account | None, Site]:
    caller = await account_caller(request)
    site = await sites_of(request).require(request.match_info["site_id"])
    if not may_see(caller, site):
        raise forbidden(f"site {site.id} is not one of yours")
    return caller, site


async def _site_reply(
    request: web.Request, caller: Account | None, site: Site, status: int = 200
) -> web.Response:
    [shown] = await sites_json(request, caller, [site])
    return reply({"site": shown}, status=status)


@routes.get("/api/sites")
@operation(
    "the sites the caller may see: all for the admin key, admin and command accounts; a "
    "judge's, officer's or mediator's own sites otherwise; each with its kiosks and online state",
    {200: SiteList},
    security="account",
    query=SitesQuery,
)
async def list_sites(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    include_retired = query(SitesQuery, request.query).include_retired == "true"
    sites = await sites_of(request).visible_to(caller, include_retired)
    return reply(
        {
            "sites": await sites_json(request, caller, sites),
            "offline_after_seconds": services(request).settings.site_offline_after,
        }
    )


@routes.post("/api/sites")
@operation(
    "register a site (admin key or an admin account)",
    {201: Response("registered", SiteReply, {"Location": "the site's URL"})},
    security="account",
    body=NewSite,
)
async def register_site(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    require_roles(caller)
    given = body(NewSite, await read_json(request))
    fields = given.model_dump()
    fields["grid_members"] = grid_members_from(fields["grid_members"], None)
    site = await sites_of(request).register(**fields)
    response = await _site_reply(request, caller, site, status=201)
    response.headers["Location"] = f"/api/sites/{site.id}"
    return response


@routes.get("/api/sites/{site_id}")
@operation(
    "one site (403 if it is not one the caller may see)", {200: SiteReply}, security="account"
)
async def get_site(request: web.Request) -> web.Response:
    caller, site = await _visible_site(request)
    return await _site_reply(request, caller, site)


@routes.patch("/api/sites/{site_id}")
@operation(
    "edit a site: the admin key or an admin account any field; the site's own officer only "
    "equipment and grid_members",
    {200: SiteReply},
    security="account",
    body=SiteChanges,
    errors={409: "the site is retired"},
)
async def update_site(request: web.Request) -> web.Response:
    caller, site = await _visible_site(request)
    given = body(SiteChanges, await read_json(request))
    named = given.model_fields_set
    if not is_admin(caller):
        assert caller is not None
        if caller.role is not AccountRole.OFFICER or site.officer_id != caller.id:
            raise forbidden("only an administrator or the site's own officer may edit a site")
        if beyond := sorted(named - OFFICER_FIELDS):
            raise forbidden(
                "a site officer may change only equipment and grid_members, "
                f"not {', '.join(beyond)}"
            )
    changes: dict[str, Any] = {}
    for name in named:
        value = getattr(given, name)
        if name == "grid_members":
            # As sent: masked numbers are matched against the site as it is when written.
            value = [g.model_dump() for g in given.grid_members or []]
        elif name == "kind":
            value = SiteKind(value)
        elif isinstance(value, list):
            value = tuple(value)
        changes[name] = value
    # An officer's edit is written only while they are still the site's officer.
    officer_id = None if is_admin(caller) else caller.id if caller is not None else None
    updated = await sites_of(request).update(site.id, changes, officer_id=officer_id)
    return await _site_reply(request, caller, updated)


@routes.post("/api/sites/{site_id}/retire")
@operation(
    "retire a site: kept and shown as retired, takes no new disputes (admin key or an admin "
    "account)",
    {200: SiteReply},
    security="account",
    errors={409: "the site is retired already"},
)
async def retire_site(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    require_roles(caller)
    site = await sites_of(request).retire(request.match_info["site_id"])
    return await _site_reply(request, caller, site)


async def _acting_site(request: web.Request) -> tuple[Account | None, Site]:
    """A site the caller manages kiosks of: the admin key, an admin, or the site's officer."""
    caller, site = await _visible_site(request)
    if not is_admin(caller):
        assert caller is not None
        if caller.role is not AccountRole.OFFICER or site.officer_id != caller.id:
            raise forbidden("only an administrator or the site's own officer manages its kiosks")
    return caller, site


@routes.post("/api/sites/{site_id}/devices")
@operation(
    "enrol a kiosk for the site: its credential, shown this once (admin, or the site's officer)",
    {201: DeviceEnrolled},
    security="account",
    body=DeviceEnrol,
    errors={409: "the site is retired"},
)
async def enrol_device(request: web.Request) -> web.Response:
    caller, site = await _acting_site(request)
    given = body(DeviceEnrol, await read_json(request))
    if site.retired:
        raise conflict(f"site {site.id} is retired; its kiosks cannot be enrolled")
    devices = devices_of(request)
    device, credential = await devices.enrol(site.id, given.label, caller_label(caller))
    return reply(
        {
            "device_id": device.id,
            "credential": credential,
            "kiosk_url": f"{services(request).settings.public_url}/kiosk?credential={credential}",
            "device": device.to_json(False),
        },
        status=201,
    )


@routes.delete("/api/sites/{site_id}/devices/{device_id}")
@operation(
    "revoke a kiosk's credential: its heartbeats get 401 from now on (admin, or the site's "
    "officer)",
    {200: DeviceReply},
    security="account",
    errors={409: "the device is revoked already"},
)
async def revoke_device(request: web.Request) -> web.Response:
    _, site = await _acting_site(request)
    devices = devices_of(request)
    device = await devices.revoke(site.id, request.match_info["device_id"])
    return reply({"device": device.to_json(False)})


# ------------------------------------------------------------------------------ the kiosk
_NOT_A_DEVICE = "the credential is not the credential of an enrolled kiosk (revoked, or mistyped)"


async def _device(request: web.Request) -> Device:
    credential = bearer(request)
    assert credential is not None
    device = await devices_of(request).by_credential(credential)
    if device is None:
        raise unauthorized(_NOT_A_DEVICE)
    return device


async def _kiosk_reply(request: web.Request, device: Device) -> web.Response:
    site = await sites_of(request).require(device.site_id)
    settings = services(request).settings
    today = await todays_hearings(devices_of(request).db, site.id, settings.timezone)
    return reply(
        {
            "device_id": device.id,
            "label": device.label,
            "site": {
                "id": site.id,
                "kind": site.kind.value,
                "kind_name": KIND_NAMES[site.kind],
                "name": site.name,
                "county": site.county,
                "township": site.township,
                "village": site.village,
                "address": site.address,
                "retired": site.retired,
            },
            "online": devices_of(request).online(device),
            "last_heartbeat_at": device.last_heartbeat_at,
            "heartbeat_seconds": HEARTBEAT_SECONDS,
            "today": today,
        }
    )


_DEVICE_ERRORS = {401: "no device credential, or one that is revoked or unknown"}


@routes.post("/api/kiosk/heartbeat")
@operation(
    "the kiosk's heartbeat (Authorization: Bearer <device credential>), every 15 s",
    {200: KioskStatus},
    body=Heartbeat,
    security="device",
    errors=_DEVICE_ERRORS,
)
async def heartbeat(request: web.Request) -> web.Response:
    device = await _device(request)
    given = body(Heartbeat, await read_json(request))
    device = await devices_of(request).heartbeat(device, given.model_dump(exclude_none=True))
    return await _kiosk_reply(request, device)


@routes.get("/api/kiosk")
@operation(
    "the kiosk's device and site (Authorization: Bearer <device credential>)",
    {200: KioskStatus},
    security="device",
    errors=_DEVICE_ERRORS,
)
async def kiosk(request: web.Request) -> web.Response:
    return await _kiosk_reply(request, await _device(request))


@routes.post("/api/kiosk/hearings/{hearing_id}/token")
@operation(
    "a token for the kiosk's own seat in a session of its site, to join it "
    "(Authorization: Bearer <device credential>)",
    {201: KioskToken},
    security="device",
    errors={**_DEVICE_ERRORS, 409: "the session has ended"},
)
async def kiosk_token(request: web.Request) -> web.Response:
    device = await _device(request)
    hearing_id = request.match_info["hearing_id"]
    found = await kiosk_seat(devices_of(request).db, hearing_id, device.site_id)
    if found is None:
        raise not_found(f"this kiosk has no seat in session {hearing_id}")
    participant_id, state = found
    if state == HearingState.ENDED.value:
        raise conflict(f"session {hearing_id} has ended")
    s = services(request)
    token, claims = s.tokens.issue(hearing_id, participant_id, Role.SITE)
    return reply(
        {
            "participant_id": participant_id,
            "token": token,
            "expires_at": datetime.fromtimestamp(claims.expires_at, UTC).isoformat(),
            "join_url": f"{s.settings.public_url}/join/{hearing_id}?token={quote(token, safe='')}",
        },
        status=201,
    )


def install(app: web.Application, store: SqliteStore, site_offline_after: float) -> SiteService:
    """The sites and devices services on the app (``sites.SITES``, ``devices.DEVICES``) and
    their routes."""
    accounts = AccountStore(store)
    service = SiteService(SiteStore(store), accounts)
    app[SITES] = service
    app[DEVICES] = DeviceService(store, site_offline_after)
    app[ACCOUNT_STORE] = accounts
    app.add_routes(routes)
    return service
