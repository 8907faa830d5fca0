"""Property-based fuzz of the HTTP API: schemathesis generates requests for every operation of the
OpenAPI document the real server serves, valid ones and ones the document says are invalid, with
the admin key, a judge's token, a party's token, a site officer's session and without credentials
(or with garbage bytes in their place). No answer may be a 5xx, every answer must be one the
document describes (status and body), an invalid request must never succeed, and afterwards the
server's log may hold no traceback.

Two thirds of the generated hearing, participant, site and dispute ids are swapped for real ones
(of a closed hearing, so that nothing starts a stream; of the officer's own site and dispute), so
the requests also get past the lookups."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.timeout(180)

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    negative_data_rejection,
    status_code_conformance,
]
# Bounded so that the file runs in about a minute on a small machine (~35 operations).
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def real_ids(server) -> dict[str, str]:
    """A closed hearing, a judge's and a party's token of it, made through the API; and another
    hearing for POST …/end (so that ending one does not leave every later request a 409)."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    hearing, to_end = (
        requests.post(
            f"{server.url}/api/hearings",
            json={
                "case_number": "(2025)模糊1号",
                "title": "fuzz",
                "court": "Fuzz Court",
                "case_type": "civil",
                "public": False,
                "scheduled_at": "2030-01-01T09:00:00+08:00",
            },
            headers=admin,
            timeout=10,
        ).json()
        for _ in range(2)
    )
    tokens = {
        role: requests.post(
            f"{server.url}/api/hearings/{hearing['id']}/tokens",
            json={"role": role, "name": name},
            headers=admin,
            timeout=10,
        ).json()
        for role, name in (("judge", "王法官"), ("party", "李四"))
    }
    return {
        "hearing_id": hearing["id"],
        "hearing_to_end": to_end["id"],
        "participant_id": tokens["party"]["participant_id"],
        "judge": tokens["judge"]["token"],
        "party": tokens["party"]["token"],
        **_network(server.url, admin),
    }


def _network(url: str, admin: dict[str, str]) -> dict[str, str]:
    """A site officer signed in, their village site and a dispute taken in there: the court
    network's routes fuzzed with a person's session and past their lookups too."""

    def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = requests.post(f"{url}{path}", json=body, headers=headers, timeout=30)
        assert response.status_code in (200, 201), (path, response.text)
        return response.json()

    password = "fuzz-password-1"
    officer = post(
        "/api/accounts",
        {"username": "fuzz-officer", "name": "模糊庭务", "role": "officer", "password": password},
        admin,
    )["account"]
    site = post(
        "/api/sites",
        {
            "kind": "village",
            "name": "模糊村云法庭",
            "county": "青山区",
            "township": "青山镇",
            "village": "模糊村",
            "address": "青山镇模糊村1号",
            "officer_id": officer["id"],
        },
        admin,
    )["site"]
    session = post("/api/login", {"username": "fuzz-officer", "password": password}, {})
    officer_auth = {"Authorization": f"Bearer {session['session']}"}
    parties = [
        {
            "side": side,
            "name": name,
            "id_number": id_number,
            "phone": "13812345678",
            "address": "青山镇模糊村2号",
            "village": "模糊村",
            "township": "青山镇",
            "consents": {"online_mediation": True, "electronic_service": True},
        }
        for side, name, id_number in (
            ("applicant", "甲", "11010519491231002X"),
            ("respondent", "乙", "110101198001010037"),
        )
    ]
    dispute = post(
        "/api/disputes",
        {
            "intake_site_id": site["id"],
            "type": "neighbour",
            "summary": "模糊测试的邻里纠纷",
            "parties": parties,
        },
        officer_auth,
    )
    return {"site_id": site["id"], "dispute_id": dispute["id"], "officer": session["session"]}


@pytest.fixture(scope="module")
def api_schema(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    schema.config.generation.update(modes=list(GenerationMode))
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")
# WHIP and WHEP take SDP, which is text.
schemathesis.serializer.alias("application/sdp", "text/plain")


def use_real_ids(case: Any, real_ids: dict[str, str]) -> None:
    ending = case.operation.path.endswith("/end")
    for name in ("hearing_id", "participant_id", "site_id", "dispute_id"):
        value = (case.path_parameters or {}).get(name)
        # Deterministic in the generated value, so that hypothesis can shrink a failure.
        if isinstance(value, str) and len(value) % 3 != 0:
            real = "hearing_to_end" if ending and name == "hearing_id" else name
            case.path_parameters[name] = real_ids[real]


# What a client may put in the header: the admin key, a judge's or a party's token of the real
# hearing, the officer's session, nothing, or any bytes a header's value may be made of (RFC 9110:
# visible ASCII, space, tab and obs-text), which need be neither UTF-8 nor a token. Control bytes
# make the request no HTTP: aiohttp's parser answers those before the application
# (tests/test_api.py sends them).
FIELD_VALUE_BYTES = [0x09, *range(0x20, 0x7F), *range(0x80, 0x100)]
CREDENTIALS = st.one_of(
    st.sampled_from(["admin", "judge", "party", "officer"]),
    st.sampled_from(["admin", "judge", "party", "officer", None]),
    st.lists(st.sampled_from(FIELD_VALUE_BYTES), min_size=1, max_size=48)
    .map(bytes)
    .filter(lambda b: not b[:1].isspace() and not b[-1:].isspace()),
)


def call_and_check(case: Any, credential: str | bytes | None, server: Any, ids: dict[str, str]):
    use_real_ids(case, ids)
    if credential is None:
        headers = {}
    elif isinstance(credential, bytes):
        headers = {"Authorization": b"Bearer " + credential}
    else:
        secret = server.admin_key if credential == "admin" else ids[credential]
        headers = {"Authorization": f"Bearer {secret}"}
    response = case.call(headers=headers, timeout=15)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@schema.given(credential=CREDENTIALS)
@FUZZ
def test_every_answer_keeps_the_contract(case, credential, server, real_ids):
    call_and_check(case, credential, server, real_ids)


@schema.parametrize()
@settings(FUZZ, max_examples=1)
def test_every_boundary_keeps_the_contract(case, server, real_ids):
    """schemathesis's coverage phase: for each field the values at and just past its limits,
    each wrong type (null for a boolean, a number for a string), each missing required field.
    It runs only without ``given``: the credential is chosen from the request itself."""
    choices = ["admin", "judge", "party", "officer", None]
    credential = choices[zlib.crc32(repr(case).encode()) % len(choices)]
    call_and_check(case, credential, server, real_ids)


def test_no_traceback_in_the_log(server):
    """Runs after the fuzzing above (pytest keeps the file's order)."""
    log = server.log_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
