"""Property-based fuzz of the HTTP API: schemathesis generates requests for every operation of the
OpenAPI document the real server serves, with the admin key and without credentials (or with
garbage bytes in their place); no answer may be a 5xx, and afterwards the server's log may hold no
traceback.

Half of the generated hearing and participant ids are swapped for real ones (of a closed hearing,
so that nothing starts a stream), so the requests also get past the lookups."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.timeout(180)

# Bounded so that the file runs in about a minute on a small machine.
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def real_ids(server) -> dict[str, str]:
    """A closed hearing and a party of it, made through the API."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    hearing = requests.post(
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
    party = requests.post(
        f"{server.url}/api/hearings/{hearing['id']}/tokens",
        json={"role": "party", "name": "李四"},
        headers=admin,
        timeout=10,
    ).json()
    return {"hearing_id": hearing["id"], "participant_id": party["participant_id"]}


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
# WHIP and WHEP take SDP, which is text.
schemathesis.serializer.alias("application/sdp", "text/plain")


def use_real_ids(case: Any, real_ids: dict[str, str]) -> None:
    for name, real in real_ids.items():
        value = (case.path_parameters or {}).get(name)
        # Deterministic in the generated value, so that hypothesis can shrink a failure.
        if isinstance(value, str) and len(value) % 2 == 0:
            case.path_parameters[name] = real


@schema.parametrize()
@FUZZ
def test_no_server_error_with_the_admin_key(case, server, real_ids):
    use_real_ids(case, real_ids)
    response = case.call(headers={"Authorization": f"Bearer {server.admin_key}"}, timeout=15)
    case.validate_response(response, checks=[not_a_server_error])


# What a client without credentials may put in the header: nothing, or any bytes a header line
# can carry (not UTF-8, not ASCII, not a token at all).
GARBAGE = st.one_of(
    st.none(),
    st.binary(min_size=1, max_size=48).filter(
        lambda b: not set(b) & set(b"\r\n\x00") and not b[:1].isspace()
    ),
)


@schema.parametrize()
@schema.given(credential=GARBAGE)
@FUZZ
def test_no_server_error_without_credentials(case, credential, real_ids):
    use_real_ids(case, real_ids)
    headers = {} if credential is None else {"Authorization": b"Bearer " + credential}
    response = case.call(headers=headers, timeout=15)
    case.validate_response(response, checks=[not_a_server_error])


def test_no_traceback_in_the_log(server):
    """Runs after the fuzzing above (pytest keeps the file's order)."""
    log = server.log_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
