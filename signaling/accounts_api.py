"""HTTP routes of people's accounts: sign in and out, who am I, and the administration of
accounts (docs/NETWORK.md)."""

from __future__ import annotations

import json

from aiohttp import web

from signaling.account_auth import account_caller, is_admin, require_roles
from signaling.account_store import AccountStore
from signaling.accounts import (
    ACCOUNTS,
    AccountRole,
    AccountService,
    LoginLocked,
    LoginRefused,
    SignInsBusy,
    accounts_of,
)
from signaling.auth import bearer
from signaling.errors import conflict, unauthorized
from signaling.http_api import read_json, reply
from signaling.openapi import Response, operation
from signaling.replies_network import AccountList, AccountReply, LoginReply, Me
from signaling.schemas_network import AccountChanges, AccountsQuery, LoginBody, NewAccount
from signaling.schemas_parse import body, query
from signaling.store import SqliteStore

routes = web.RouteTableDef()


@routes.post("/api/login")
@operation(
    "sign in with a username and password: a session token for the network's routes",
    {200: LoginReply},
    body=LoginBody,
    errors={
        401: "the username or password is wrong (one sentence for both)",
        429: "too many wrong passwords for this username: locked, see Retry-After",
        503: "too many sign-ins wait for their password check: try again, see Retry-After",
    },
)
async def login(request: web.Request) -> web.Response:
    given = body(LoginBody, await read_json(request))
    try:
        token, session = await accounts_of(request).login(
            given.username.strip().lower(), given.password
        )
    except LoginRefused as exc:
        raise unauthorized(str(exc)) from None
    except SignInsBusy as exc:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": "too many sign-ins at once; try again in a few seconds"}),
            content_type="application/json",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except LoginLocked as exc:
        raise web.HTTPTooManyRequests(
            text=json.dumps(
                {
                    "error": "too many wrong passwords for this username; try again in "
                    f"{exc.retry_after} seconds, or ask an administrator to reset the password"
                }
            ),
            content_type="application/json",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    return reply(
        {"session": token, "account": session.account.to_json(), "expires_at": session.expires_at}
    )


@routes.post("/api/logout")
@operation("end this session (the token stops working)", {204: "signed out"}, security="account")
async def logout(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    if caller is not None:
        credential = bearer(request)
        assert credential is not None
        await accounts_of(request).logout(credential)
    # The admin key has no session to end: nothing to do, and nothing wrong with asking.
    return web.Response(status=204)


@routes.get("/api/me")
@operation(
    "who the credential is: the signed-in account, or the admin key", {200: Me}, security="account"
)
async def me(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    if caller is None:
        return reply({"account": None, "admin": True, "expires_at": None})
    credential = bearer(request)
    assert credential is not None
    session = await accounts_of(request).session(credential)
    return reply(
        {
            "account": caller.to_json(),
            "admin": is_admin(caller),
            "expires_at": session.expires_at if session else None,
        }
    )


@routes.get("/api/accounts")
@operation(
    "the people's accounts (any signed-in account: the court's staff directory)",
    {200: AccountList},
    security="account",
    query=AccountsQuery,
)
async def list_accounts(request: web.Request) -> web.Response:
    await account_caller(request)
    role = query(AccountsQuery, request.query).role
    found = await accounts_of(request).list(AccountRole(role) if role else None)
    return reply({"accounts": [a.to_json() for a in found]})


@routes.post("/api/accounts")
@operation(
    "create an account (admin key or an admin account)",
    {201: Response("created", AccountReply, {"Location": "the account's URL"})},
    security="account",
    body=NewAccount,
    errors={409: "the username is taken"},
)
async def create_account(request: web.Request) -> web.Response:
    require_roles(await account_caller(request))
    given = body(NewAccount, await read_json(request))
    account = await accounts_of(request).create(
        given.username, given.name, given.role, given.password
    )
    return reply(
        {"account": account.to_json()},
        status=201,
        headers={"Location": f"/api/accounts/{account.id}"},
    )


@routes.get("/api/accounts/{account_id}")
@operation("one account", {200: AccountReply}, security="account")
async def get_account(request: web.Request) -> web.Response:
    await account_caller(request)
    account = await accounts_of(request).require(request.match_info["account_id"])
    return reply({"account": account.to_json()})


@routes.patch("/api/accounts/{account_id}")
@operation(
    "edit an account: name, role, password, or active: false to deactivate "
    "(admin key or an admin account)",
    {200: AccountReply},
    security="account",
    body=AccountChanges,
    errors={409: "an admin account may not deactivate itself or give up its own admin role"},
)
async def update_account(request: web.Request) -> web.Response:
    caller = await account_caller(request)
    require_roles(caller)
    account_id = request.match_info["account_id"]
    given = body(AccountChanges, await read_json(request))
    service = accounts_of(request)
    await service.require(account_id)
    if caller is not None and caller.id == account_id:
        # The last admin locking themselves out would leave only the admin key.
        if given.active is False or given.role not in (None, AccountRole.ADMIN):
            raise conflict("an admin account may not deactivate itself or give up its admin role")
    account = await service.update(
        account_id,
        name=given.name,
        role=given.role,
        active=given.active,
        password=given.password,
    )
    return reply({"account": account.to_json()})


def install(app: web.Application, store: SqliteStore, session_ttl_seconds: int) -> AccountService:
    """The accounts service on the app (``accounts.ACCOUNTS``) and its routes."""
    service = AccountService(AccountStore(store), session_ttl_seconds)
    app[ACCOUNTS] = service
    app.add_routes(routes)
    return service
