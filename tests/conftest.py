"""Shared fixtures: a real `cloudcourt serve` subprocess, the HTTP API, participants.

Every e2e test creates its own hearing, so one server per module is enough; tests that restart
the server use ``fresh_server``. Servers listen on a free port of 127.0.0.1 with
CLOUDCOURT_ICE_LOOPBACK=1 and a random CLOUDCOURT_ADMIN_KEY, data in a tmp dir.
On failure the server's log lines written during the test are attached to the report.
"""

from __future__ import annotations

import secrets

import pytest

from tests.e2e import Api, Cast
from tests.signaling_server import free_port, start_server

pytest_plugins = ["tests.sfu_harness", "tests.browser"]

_log_mark = pytest.StashKey[tuple]()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "long: the one long soak (>= 2 min); it still runs in CI, deselect with -m 'not long'",
    )
    config.addinivalue_line(
        "markers",
        "serial: runs alone after the parallel part of the suite (real-time encoding, CPU "
        "measurements): scripts/test",
    )


def _server_env() -> dict[str, str]:
    # The JWT secret is set (not generated) so a test can re-sign a real token as expired.
    return {
        "CLOUDCOURT_ICE_LOOPBACK": "1",
        "CLOUDCOURT_ADMIN_KEY": secrets.token_urlsafe(24),
        "CLOUDCOURT_JWT_SECRET": secrets.token_urlsafe(32),
    }


def _launch(data_dir):
    env = _server_env()
    srv = start_server(data_dir, free_port(), env=env)
    srv.jwt_secret = env["CLOUDCOURT_JWT_SECRET"]
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = _launch(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path):
    srv = _launch(tmp_path / "server")
    yield srv
    srv.stop()


def _log_text(srv) -> str:
    if hasattr(srv, "log_text"):
        return srv.log_text()
    path = getattr(srv, "log_path", None)
    try:
        return open(path, errors="replace").read() if path else ""
    except OSError:
        return ""


@pytest.fixture(autouse=True)
def _mark_server_log(request):
    for name in ("server", "fresh_server"):
        if name in request.fixturenames:
            srv = request.getfixturevalue(name)
            request.node.stash[_log_mark] = (srv, len(_log_text(srv)))
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed and rep.when in ("call", "teardown") and _log_mark in item.stash:
        srv, offset = item.stash[_log_mark]
        lines = _log_text(srv)[offset:].splitlines()
        rep.sections.append(
            ("server log during this test (last 150 lines)", "\n".join(lines[-150:]))
        )
    return rep


@pytest.fixture
def api(server) -> Api:
    return Api(server)


@pytest.fixture
async def cast(server):
    c = Cast(server)
    yield c
    await c.close()
