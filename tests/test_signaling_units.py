"""Small pieces of the control plane: grants, mute bookkeeping, settings, the command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from signaling.cli import main
from signaling.config import ConfigError, Settings, parse_ice_servers
from signaling.errors import CourtError
from signaling.mutes import MuteState
from signaling.roles import GRANTS, Role, grants_for, outranks
from signaling.schemas_socket import EVENT_PAYLOADS, Join
from signaling.socket_events import SocketEvents
from tests.signaling_server import start_server


def test_grants_per_role():
    table = {role.value: grants_for(role) for role in Role}
    for role in ("judge", "clerk"):
        g = table[role]
        assert g.publish and g.subscribe and g.moderate and not g.hidden
    for role in ("party", "agent", "witness", "mediator", "site"):
        g = table[role]
        assert g.publish and g.subscribe and not g.moderate and not g.hidden
    rec = table["recorder"]
    assert rec.subscribe and rec.hidden and not rec.publish and not rec.moderate
    assert not table["viewer"].webrtc
    assert all(g.webrtc for r, g in GRANTS.items() if r is not Role.VIEWER)


def test_who_outranks_whom():
    assert outranks(None, Role.JUDGE)  # the administrator
    assert outranks(Role.JUDGE, Role.JUDGE)
    assert outranks(Role.CLERK, Role.PARTY) and not outranks(Role.CLERK, Role.JUDGE)
    assert not outranks(Role.PARTY, Role.WITNESS)


def test_moderator_mute_outlasts_self_unmute():
    m = MuteState()
    assert m.apply("audio", True, as_moderator=True)
    with pytest.raises(CourtError) as err:
        m.apply("audio", False, as_moderator=False)
    assert err.value.code == "forbidden"
    assert m.to_json() == {"audio": True, "video": False}
    # the moderator lifting the mute does not undo what the participant chose for itself
    assert m.apply("video", True, as_moderator=False)
    assert not m.apply("video", False, as_moderator=True)
    assert m.muted("video")
    assert m.apply("audio", False, as_moderator=True)
    assert m.apply("video", False, as_moderator=False)
    assert m.to_json() == {"audio": False, "video": False}
    assert not m.apply("audio", False, as_moderator=False)  # nothing changed


def test_settings_defaults_and_generated_secrets(tmp_path):
    data = tmp_path / "data"
    s = Settings.load(data_dir=data, env={})
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert s.public_url == "http://127.0.0.1:8080"
    assert s.ice_servers == [] and s.ice_loopback is False
    assert s.token_ttl_seconds == 12 * 3600
    # One SFU worker process per core this process may run on (issue 17); 0 only when asked.
    assert s.sfu_workers == len(os.sched_getaffinity(0))
    assert Settings.load(data_dir=data, env={"CLOUDCOURT_SFU_WORKERS": "0"}).sfu_workers == 0
    assert s.admin_key_generated
    for name in ("admin.key", "jwt.key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    assert (data / "admin.key").read_text().strip() == s.admin_key
    again = Settings.load(data_dir=data, env={})
    assert again.admin_key == s.admin_key and not again.admin_key_generated
    assert again.jwt_secret == s.jwt_secret


def test_settings_from_environment(tmp_path):
    ice = [
        {"urls": "turn:turn.court.example:3478", "username": "u", "credential": "c"},
        {"urls": ["stun:stun.court.example"]},
    ]
    s = Settings.load(
        host="0.0.0.0",
        port=9000,
        data_dir=tmp_path,
        env={
            "CLOUDCOURT_ADMIN_KEY": "k" * 20,
            "CLOUDCOURT_ICE_LOOPBACK": "1",
            "CLOUDCOURT_ICE_SERVERS": json.dumps(ice),
            "CLOUDCOURT_TOKEN_TTL": "600",
        },
    )
    assert s.admin_key == "k" * 20 and not s.admin_key_generated
    assert not (tmp_path / "admin.key").exists()
    assert s.ice_loopback
    assert [x.to_json() for x in s.ice_servers] == [
        {"urls": ["turn:turn.court.example:3478"], "username": "u", "credential": "c"},
        {"urls": ["stun:stun.court.example"]},
    ]
    assert s.token_ttl_seconds == 600
    assert s.public_url == "http://127.0.0.1:9000"  # a wildcard address is not a URL to open
    s = Settings.load(data_dir=tmp_path, env={"CLOUDCOURT_PUBLIC_URL": "https://court.example/"})
    assert s.public_url == "https://court.example"


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"CLOUDCOURT_ICE_SERVERS": "not json"}, "CLOUDCOURT_ICE_SERVERS"),
        ({"CLOUDCOURT_ICE_SERVERS": '{"urls": "stun:x"}'}, "list"),
        ({"CLOUDCOURT_ICE_SERVERS": '[{"urls": "http://x"}]'}, "urls"),
        ({"CLOUDCOURT_ICE_LOOPBACK": "maybe"}, "CLOUDCOURT_ICE_LOOPBACK"),
        ({"CLOUDCOURT_TOKEN_TTL": "soon"}, "CLOUDCOURT_TOKEN_TTL"),
        ({"CLOUDCOURT_PUBLIC_URL": "ftp://x"}, "CLOUDCOURT_PUBLIC_URL"),
        ({"CLOUDCOURT_JWT_SECRET": "short"}, "CLOUDCOURT_JWT_SECRET"),
        ({"CLOUDCOURT_JOIN_TIMEOUT": "soon"}, "CLOUDCOURT_JOIN_TIMEOUT"),
        ({"CLOUDCOURT_JOIN_TIMEOUT": "0"}, "CLOUDCOURT_JOIN_TIMEOUT"),
        ({"CLOUDCOURT_JOIN_TIMEOUT": "nan"}, "CLOUDCOURT_JOIN_TIMEOUT"),
        # it travels in an Authorization header
        ({"CLOUDCOURT_ADMIN_KEY": "管理员的钥匙-long-enough"}, "admin key"),
        ({"CLOUDCOURT_ADMIN_KEY": "two words but long enough"}, "admin key"),
    ],
)
def test_bad_settings_say_which(tmp_path, env, mentions):
    with pytest.raises(ConfigError, match=mentions):
        Settings.load(data_dir=tmp_path, env=env)


def test_ice_servers_default_to_none():
    assert parse_ice_servers(None) == [] and parse_ice_servers("") == []


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        ([], "COMMAND"),
        (["dance"], "dance"),
        (["serve", "--port", "eighty"], "port"),
        (["serve", "--port", "70000"], "port"),
        (["serve", "--colour"], "--colour"),
    ],
)
def test_bad_command_lines_exit_non_zero_with_a_sentence(argv, mentions, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code != 0
    assert mentions in capsys.readouterr().err


def test_unusable_data_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "signaling", "serve", "--data-dir", str(blocker / "sub")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "data directory" in proc.stderr


def test_admin_key_is_generated_and_shown_once(tmp_path):
    srv = start_server(tmp_path / "data", env={"CLOUDCOURT_ADMIN_KEY": ""})
    try:
        key = srv.admin_key
        assert key and key in srv.log_text()
        srv.restart()
        assert srv.admin_key == key
        assert srv.log_text().count(key) == 1, "the admin key was printed again"
    finally:
        srv.stop()


def payload_refusal(payload: object) -> str:
    """Why an event with this payload is refused; the payload checks need nothing else."""
    events = SocketEvents(*(None,) * 6, max_event_bytes=64 * 1024, join_timeout=30)  # type: ignore[arg-type]
    with pytest.raises(CourtError) as refusal:
        events._payload((payload,), Join)
    return refusal.value.message


def test_an_oversized_event_payload_is_refused_for_its_size_before_its_text_is_read():
    # a lone surrogate anywhere would be named, but only a payload of allowed size is read for it
    assert "larger than 65536 bytes" in payload_refusal({"token": "x" * 1_000_000 + "\ud800"})
    assert "larger than" in payload_refusal({"token": ["\ud800"] * 30_000})
    assert "'a[1].b' holds a lone surrogate" in payload_refusal({"a": [0, {"b": "x\udfff"}]})
    assert "a key of 'a'" in payload_refusal({"a": {"\ud800": 1}})


@pytest.mark.parametrize(
    ("event", "payload", "sentence"),
    [
        (
            "mute",
            {"participant_id": "p", "kind": "audio", "muted": "yes"},
            "'muted' must be true or false",
        ),
        (
            "mute",
            {"participant_id": "p", "kind": "x", "muted": True},
            "'kind' must be one of: audio, video",
        ),
        ("mute", {"kind": "audio", "muted": True}, "'participant_id' is required"),
        (
            "mute",
            {"participant_id": 5, "kind": "audio", "muted": True},
            "'participant_id' must be a string",
        ),
        (
            "deny",
            {"participant_id": "p", "mutd": 1},
            "unknown field(s): mutd; allowed: participant_id, reason",
        ),
        ("deny", {"participant_id": "p", "reason": "a\u202eb"}, "'reason' contains U+202E"),
        ("deny", {"participant_id": "p", "reason": "   "}, "'reason' must not be empty"),
        ("publish", {"sdp": " \r\n"}, "'sdp' must be a non-empty string"),
        ("publish", {"sdp": "v=0", "type": "answer"}, "'type' must be one of: offer"),
        ("publish", {"sdp": "v=0", "sources": {"2": "tv"}}, "'sources.2' must be one of: camera"),
        (
            "ice_candidate",
            {"target": "publisher", "candidate": {"candidate": "x", "sdpMLineIndex": -1}},
            "'candidate.sdpMLineIndex' must be at least 0",
        ),
        (
            "ice_candidate",
            {"target": "publisher", "candidate": {"candidate": "x", "sdpMLineIndex": True}},
            "'candidate.sdpMLineIndex' must be an integer",
        ),
        ("leave", {"now": True}, "unknown field(s): now"),
    ],
)
def test_a_refused_payload_is_told_which_field_and_why(event, payload, sentence):
    """Each event's model refuses with a sentence naming the field, as the API always has."""
    events = SocketEvents(*(None,) * 6, max_event_bytes=64 * 1024, join_timeout=30)  # type: ignore[arg-type]
    with pytest.raises(CourtError) as refusal:
        events._payload((payload,), EVENT_PAYLOADS[event])
    assert sentence in refusal.value.message, refusal.value.message
    assert refusal.value.code.value == "bad_request"
