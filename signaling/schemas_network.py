"""The request models of the court network's people and sites (docs/NETWORK.md): accounts,
login, sites, kiosk devices and their heartbeats. Read with ``schemas_parse.body``/``query``;
the OpenAPI document is generated from the same models."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from signaling.accounts import AccountRole
from signaling.schemas import RULE, Id, Strict, Text100, Text200
from signaling.sites import SiteKind

# ----------------------------------------------------------------------------- accounts
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,31}", re.ASCII)


def _username(value: str) -> str:
    """Usernames are case-insensitive: kept in lower case, so Wang and wang are one person."""
    value = value.strip().lower()
    if not _USERNAME.fullmatch(value):
        raise PydanticCustomError(
            RULE,
            "must be 3 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return value


Username = Annotated[str, StringConstraints(min_length=3, max_length=32), AfterValidator(_username)]
# At least 10 characters (a court system faces password guessing); at most 200, so that a
# megabyte "password" does not cost argon2 a megabyte. Never trimmed: spaces count.
MIN_PASSWORD, MAX_PASSWORD = 10, 200
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


def _not_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError(RULE, "may be left out but not null")
    return value


NotNull = BeforeValidator(_not_null)


class NewAccount(Strict):
    username: Username
    name: Text100
    # Lax for this field only: a role arrives as its name.
    role: AccountRole = Field(strict=False)
    password: Password


def _required_when_given(*names: str) -> Any:
    """A model's ``json_schema_extra``: the fields named may be left out but not null, so their
    schema is their type's alone, without pydantic's null branch and ``default: null``."""

    def edit(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema["properties"][name]
            branches = [b for b in prop.pop("anyOf", ()) if b.get("type") != "null"]
            if len(branches) == 1:
                prop.update(branches[0])
            prop.pop("default", None)

    return edit


class AccountChanges(Strict):
    """Only the fields given change. ``active: false`` deactivates: the account's sessions end at
    once. A new ``password`` also ends its sessions and lifts a lockout."""

    model_config = ConfigDict(
        **Strict.model_config,
        json_schema_extra=_required_when_given("name", "role", "active", "password"),
    )

    name: Annotated[Text100 | None, NotNull] = None
    role: Annotated[AccountRole | None, NotNull] = Field(None, strict=False)
    active: Annotated[bool | None, NotNull] = None
    password: Annotated[Password | None, NotNull] = None


class LoginBody(Strict):
    # Not the username rule: a login says nothing about what a username may be, only yes or no.
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD)]


class AccountsQuery(Strict):
    role: Literal["admin", "judge", "officer", "mediator", "command"] | None = Field(
        None, description="only accounts of this role"
    )


# ----------------------------------------------------------------------------- sites
# '*' for the masked number a reply showed: an edit may send it back unchanged (sites_api).
_PHONE = re.compile(r"\+?[0-9*][0-9* -]{2,19}", re.ASCII)


def _phone(value: str) -> str:
    value = value.strip()
    if not _PHONE.fullmatch(value):
        raise PydanticCustomError(RULE, "must be a phone number: digits, spaces or '-', 3 to 20")
    return value.replace(" ", "").replace("-", "")


Phone = Annotated[str, StringConstraints(min_length=3, max_length=21), AfterValidator(_phone)]

# The dispute types an association site may take (the codes of signaling/disputes.py).
Trade = Literal[
    "family",
    "neighbour",
    "sale",
    "finance",
    "property",
    "traffic",
    "construction",
    "tourism",
    "labour",
    "other",
]


class GridMemberIn(Strict):
    model_config = ConfigDict(
        **Strict.model_config, json_schema_extra=_required_when_given("phone", "area")
    )

    name: Text100
    phone: Annotated[Phone | None, NotNull] = None
    area: Annotated[Text100 | None, NotNull] = None


MAX_PEOPLE = 50
Mediators = Annotated[list[Id], Field(max_length=MAX_PEOPLE)]
GridMembers = Annotated[list[GridMemberIn], Field(max_length=200)]
Equipment = Annotated[list[Text100], Field(max_length=50)]
Trades = Annotated[list[Trade], Field(max_length=10)]


class NewSite(Strict):
    model_config = ConfigDict(
        **Strict.model_config,
        json_schema_extra=_required_when_given("village", "liaison_judge_id", "officer_id"),
    )

    # Lax for this field only: a kind arrives as its name.
    kind: SiteKind = Field(strict=False)
    name: Text200
    county: Text100 = Field(description="county or district (区县)")
    township: Text100 = Field(description="township or street (乡镇/街道)")
    village: Annotated[Text100 | None, NotNull] = Field(
        None, description="the village or community (社区/村); required for a village site"
    )
    address: Text200
    liaison_judge_id: Annotated[Id | None, NotNull] = Field(
        None, description="a judge account: the site's liaison judge (联系法官)"
    )
    officer_id: Annotated[Id | None, NotNull] = Field(
        None, description="an officer account: the site officer (庭务主任 or police officer)"
    )
    mediator_ids: Mediators = Field(default_factory=list)
    grid_members: GridMembers = Field(default_factory=list)
    equipment: Equipment = Field(
        default_factory=list, description="e.g. 摄像头, 拾音器, 大屏, 身份证读卡器"
    )
    trades: Trades = Field(
        default_factory=list, description="the dispute types an association site takes"
    )


# An edit may clear village, liaison judge and officer with null (a site without a liaison judge
# for a while); every other field may be left out (unchanged) but not null.
_SITE_NOT_NULL = (
    "kind",
    "name",
    "county",
    "township",
    "address",
    "mediator_ids",
    "grid_members",
    "equipment",
    "trades",
)


class SiteChanges(Strict):
    """Only the fields given change; ``village``, ``liaison_judge_id`` and ``officer_id`` are
    cleared with null. A site officer may change only ``equipment`` and ``grid_members`` of
    their own site."""

    model_config = ConfigDict(
        **Strict.model_config, json_schema_extra=_required_when_given(*_SITE_NOT_NULL)
    )

    kind: Annotated[SiteKind | None, NotNull] = Field(None, strict=False)
    name: Annotated[Text200 | None, NotNull] = None
    county: Annotated[Text100 | None, NotNull] = None
    township: Annotated[Text100 | None, NotNull] = None
    village: Text100 | None = None
    address: Annotated[Text200 | None, NotNull] = None
    liaison_judge_id: Id | None = None
    officer_id: Id | None = None
    mediator_ids: Annotated[Mediators | None, NotNull] = None
    grid_members: Annotated[GridMembers | None, NotNull] = None
    equipment: Annotated[Equipment | None, NotNull] = None
    trades: Annotated[Trades | None, NotNull] = None


class SitesQuery(Strict):
    include_retired: Literal["true", "false"] = Field(
        "false", description="also list retired sites"
    )


# ----------------------------------------------------------------------------- devices
class DeviceEnrol(Strict):
    label: Text100 = Field(description="what the device is, e.g. 调解室一体机")


class Heartbeat(Strict):
    model_config = ConfigDict(
        **Strict.model_config, json_schema_extra=_required_when_given("app_version")
    )

    camera: bool = Field(description="the kiosk's camera works")
    microphone: bool = Field(description="the kiosk's microphone works")
    app_version: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[ -~]+$")] | None,
        NotNull,
    ] = Field(None, description="the kiosk page's version (printable ASCII)")
