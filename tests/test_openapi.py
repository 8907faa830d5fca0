"""The OpenAPI document is the contract outside clients build on: the one the real server serves
must be a valid OpenAPI document, describe every API route of the application's router (method by
method) and nothing that is not routed, and type every answer it describes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from aiohttp import web
from openapi_spec_validator import validate

from signaling.app import build_app
from signaling.config import Settings
from signaling.pages import NETWORK_PAGES

# Routes that are not API, and why; everything else the router has must be in the document.
NOT_API = {
    # Pages for people (HTML, the redirects to them) and the files they load: their contract is
    # what a browser does with them, tested in tests/test_web_*.py, not a machine interface.
    "/": "redirects to the portal page",
    "/portal": "redirects to the portal page",
    "/portal/": "the public portal page (HTML)",
    "/portal/{path}": "the portal page's scripts and styles",
    "/join/{hearing_id}": "the page a token's join_url opens (HTML)",
    **{f"/{name}": "a court-network page (HTML)" for name in NETWORK_PAGES},
    "/static/{path}": "the pages' scripts, styles and translations",
    "/vendor/{name}": "the npm libraries the pages load",
    # Engine.IO's transport: its events are the contract, in docs/PROTOCOL.md.
    "/socket.io/": "the Socket.IO transport (docs/PROTOCOL.md)",
}


@pytest.fixture(scope="module")
def document(server) -> dict[str, Any]:
    response = requests.get(f"{server.url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
async def routes(tmp_path) -> set[tuple[str, str]]:
    """(method, path) of every route of the application `cloudcourt serve` runs, built as it
    builds it. HEAD is left out: aiohttp answers it for every GET."""
    settings = Settings.load(data_dir=tmp_path, env={"CLOUDCOURT_ICE_LOOPBACK": "1"})
    app = await build_app(settings)
    found = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    runner = web.AppRunner(app)
    await runner.setup()
    await runner.cleanup()
    return found


def test_the_served_document_is_valid_openapi(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_every_api_route_is_documented_and_every_documented_operation_is_routed(
    document, routes
):
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "put", "post", "delete", "options", "patch")
    }
    api = {(method, path) for method, path in routes if path not in NOT_API}
    assert api - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "operations in the document that nothing routes"
    assert {path for _, path in routes} >= set(NOT_API), "NOT_API names a route that is gone"
    assert ("GET", "/metrics") in documented


def test_every_answer_is_typed(document):
    """Each JSON answer is a schema of the document (no bare ``object``), and each described
    object lists its properties."""
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if media == "application/json":
                        ref = content["schema"].get("$ref", "")
                        assert ref.startswith("#/components/schemas/"), (method, path, status)

    def untyped(schema: Any, where: str) -> list[str]:
        found = []
        if isinstance(schema, dict):
            if schema.get("type") == "object" and not (
                "properties" in schema or "additionalProperties" in schema
            ):
                found.append(where)
            for key, value in schema.items():
                found += untyped(value, f"{where}.{key}")
        elif isinstance(schema, list):
            for i, value in enumerate(schema):
                found += untyped(value, f"{where}[{i}]")
        return found

    assert untyped(schemas, "components.schemas") == []
    assert "masked" in schemas["Participant"]["properties"]
    assert "masked" in schemas["Participant"]["required"]
    # 3.1 says "may be null" the JSON Schema way; 3.0's nullable would be ignored here.
    assert "nullable" not in str(document)
    site = schemas["IssuedToken"]["properties"]["site"]
    assert {"type": "null"} in site["anyOf"], site


def test_request_rules_are_stated(document):
    """What the handlers refuse is what the document says: the models' limits reach it."""
    schemas = document["components"]["schemas"]
    new_hearing = schemas["NewHearing"]
    assert new_hearing["additionalProperties"] is False
    assert new_hearing["properties"]["title"]["maxLength"] == 200
    assert new_hearing["properties"]["scheduled_at"]["format"] == "date-time"
    reason = schemas["ReasonBody"]["properties"]["reason"]
    assert (reason["minLength"], reason["maxLength"]) == (1, 500)
    remove_reason = schemas["RemoveBody"]["properties"]["reason"]
    assert remove_reason["maxLength"] == reason["maxLength"], "one rule for every reason"
    catalog = {p["name"]: p for p in document["paths"]["/api/catalog"]["get"]["parameters"]}
    assert catalog["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    for path, operations in document["paths"].items():
        for name in re.findall(r"\{(\w+)\}", path):
            for operation in operations.values():
                assert name in {p["name"] for p in operation.get("parameters", [])}, (path, name)
