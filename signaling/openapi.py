"""The OpenAPI 3.1 document served at /api/openapi.json, generated.

Paths and methods come from the application's router; each API handler carries its operation
(:func:`operation`), so a route that has none is visible (tests/test_openapi.py fails on it).
Request bodies, query strings and answers are the pydantic models of ``schemas`` and
``schemas_replies``, rendered with ``model_json_schema``: the rules the handlers validate with
are the ones the document states.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel

from signaling import __version__
from signaling.schemas_replies import Error

Security = Literal[
    "none", "optional", "admin", "moderator", "participant", "account", "device", "signing"
]
# A response's content: a model (JSON), the media type(s) of a body that is text or bytes, or
# nothing.
Content = type[BaseModel] | str | tuple[str, ...] | None

_SECURITY: dict[Security, list[dict[str, list[str]]]] = {
    "none": [],
    "optional": [{}, {"adminKey": []}, {"participantToken": []}],
    "admin": [{"adminKey": []}],
    "moderator": [{"adminKey": []}, {"participantToken": []}],
    "participant": [{"participantToken": []}],
    # The court network's routes (sites, people, disputes): a signed-in account, or the admin
    # key; what each account may do there is the route's own 403.
    "account": [{"adminKey": []}, {"accountSession": []}],
    # A site's kiosk, by its device credential (docs/NETWORK.md).
    "device": [{"deviceCredential": []}],
    # A signed document's routes also take a party's signing link (docs/SIGNING.md).
    "signing": [{"adminKey": []}, {"accountSession": []}, {"signingLink": []}],
}
SDP = "application/sdp"


@dataclass(frozen=True)
class Response:
    description: str
    content: Content = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[int, Response]
    security: Security = "none"
    body: type[BaseModel] | Literal["sdp"] | None = None
    # A moderation route's body may be left out: no body is the same as {}.
    body_required: bool = True
    query: type[BaseModel] | None = None
    # Refusals beyond those that follow from the above (401/403 from credentials, 404 from a
    # path with ids, 400 and 413 from a body or query).
    errors: dict[int, str] = field(default_factory=dict)


HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
# Handler → its operation. Keyed by the function the router calls, so that the document follows
# the router, and a route whose handler is not here is one the document does not describe.
OPERATIONS: dict[Callable[..., Any], Operation] = {}


def operation(
    summary: str, responses: dict[int, Response | str | type[BaseModel]], **details: Any
) -> Callable[[HandlerT], HandlerT]:
    """Describe the handler below (under its ``@routes`` decorator). A response may be given in
    full, as its description alone (no body), or as its model (described by the model's name)."""

    def as_response(value: Response | str | type[BaseModel]) -> Response:
        if isinstance(value, Response):
            return value
        if isinstance(value, str):
            return Response(value)
        return Response(value.__name__, value)

    described = Operation(
        summary, {code: as_response(r) for code, r in responses.items()}, **details
    )

    def register(handler: HandlerT) -> HandlerT:
        OPERATIONS[handler] = described
        return handler

    return register


# Routes whose handlers are another module's (signaling/metrics.py, which knows nothing of this
# document), by method and path: the Prometheus text format is part of the contract too.
ROUTE_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/metrics"): Operation(
        "Prometheus metrics: SFU counters and gauges, live hearings, sockets (docs/API.md)",
        {200: Response("Prometheus text format 0.0.4", "text/plain")},
    ),
}


def operation_of(route: web.AbstractRoute) -> Operation | None:
    found = OPERATIONS.get(route.handler)
    if found is None:
        found = ROUTE_OPERATIONS.get(
            (route.method, route.resource.canonical if route.resource else "")
        )
    return found


_PARAMETER = re.compile(r"\{(\w+)\}")


class _Components:
    """The schemas the document refers to, filled as operations are rendered."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        self.schemas.update(schema.pop("$defs", {}))
        self.schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def json(self, model: type[BaseModel]) -> dict[str, Any]:
        return {"application/json": {"schema": self.ref(model, "serialization")}}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without its null branch: a parameter left out is the null."""
    branches = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
    if len(branches) != 1:
        return schema
    extra = {k: v for k, v in schema.items() if k not in ("anyOf", "title")}
    if extra.get("default", ...) is None:
        del extra["default"]
    return {**branches[0], **extra}


def _query_parameters(model: type[BaseModel], components: _Components) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = _not_null({k: v for k, v in prop.items() if k != "title"})
        description = prop.pop("description", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _render(path: str, op: Operation, components: _Components) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAMETER.findall(path)
    ]
    rendered: dict[str, Any] = {"summary": op.summary, "security": _SECURITY[op.security]}
    errors: dict[int, str] = {}
    if op.security != "none":
        errors[401] = (
            "missing, invalid, expired or revoked credentials, or a token of another hearing"
        )
    if op.security not in ("none", "optional"):
        errors[403] = "the credentials do not carry the needed grant"
    if parameters:
        errors[404] = "unknown hearing, participant or resource"
    if op.query is not None:
        parameters += _query_parameters(op.query, components)
        errors[400] = "an unknown parameter or a bad value"
    if op.body == "sdp":
        rendered["requestBody"] = {
            "required": True,
            "content": {SDP: {"schema": {"type": "string", "minLength": 1}}},
        }
        errors.update({400: "the body is no SDP offer", 413: "SDP larger than 64 KiB"})
        errors[415] = f"Content-Type is not {SDP}"
    elif op.body is not None:
        rendered["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": components.ref(op.body, "validation")}},
        }
        errors.update({400: "malformed JSON or a missing/invalid field", 413: "body over 1 MiB"})
    errors.update(op.errors)
    if parameters:
        rendered["parameters"] = parameters
    responses: dict[str, Any] = {}
    for code, response in sorted(op.responses.items()):
        responses[str(code)] = _response(response, components)
    for code, description in sorted(errors.items()):
        responses.setdefault(str(code), _response(Response(description, Error), components))
    rendered["responses"] = responses
    return rendered


def _response(response: Response, components: _Components) -> dict[str, Any]:
    rendered: dict[str, Any] = {"description": response.description}
    if isinstance(response.content, str | tuple):
        types = (response.content,) if isinstance(response.content, str) else response.content
        rendered["content"] = {t: {"schema": {"type": "string"}} for t in types}
    elif response.content is not None:
        rendered["content"] = components.json(response.content)
    if response.headers:
        rendered["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in response.headers.items()
        }
    return rendered


def openapi_document(app: web.Application, server_url: str) -> dict[str, Any]:
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        # aiohttp answers HEAD for every GET; it is not an operation of its own.
        if route.method == "HEAD" or route.resource is None:
            continue
        op = operation_of(route)
        if op is not None:
            path = route.resource.canonical
            paths.setdefault(path, {})[route.method.lower()] = _render(path, op, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cloud Court (云法庭) API",
            "version": __version__,
            "description": "Hearings, participant tokens, moderation, public streams, recordings, "
            'WHIP ingest and WHEP playback. Every error is JSON {"error": "..."}. Generated from '
            "the server's routes and models; see docs/API.md.",
        },
        "servers": [{"url": server_url}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "the admin key"},
                "participantToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "a participant token of the hearing",
                },
                "accountSession": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a session token from POST /api/login (a person's account)",
                },
                "deviceCredential": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a kiosk's device credential (POST /api/sites/{id}/devices)",
                },
                "signingLink": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a party's signing link (POST /api/documents/{id}/links), "
                    "once the party proved who they are (POST /api/documents/{id}/identity)",
                },
            },
            "schemas": dict(sorted(components.schemas.items())),
        },
    }
