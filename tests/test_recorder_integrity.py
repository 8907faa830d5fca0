"""The court's record from outside the server: a real `cloudcourt serve`, real aiortc participants
publishing, the HTTP API and `cloudcourt verify`.

- A pause or resume whose reason cannot be recorded (valid JSON, not encodable text; control
  characters; too long; blank) is refused with 400 and changes nothing: the state stays, media is
  still recorded, and the manifest gets no entry.
- A manifest damaged while its hearing is in session, then a restart: the judge's console gets the
  recorder's alarm, recording goes on in a new chain that names the damaged one, `verify` says the
  old chain is damaged and the new one is intact, and the damaged file is never written again.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from recorder.manifest import ChainError, read_entries
from tests.clients.recordings import recording, verify, wait_recorded
from tests.e2e import Api, Cast, eventually

pytestmark = pytest.mark.timeout(240)

DAMAGED = "recording_chain_damaged"
MISSING = "recording_missing"

UNRECORDABLE = [
    "\ud800 adjourned",  # a lone surrogate: valid JSON (\ud800), not UTF-8
    "adjourned \udfff",
    "休庭\x00十分钟",
    "休庭\n十分钟",
    "\x1b[31m adjourned",
    "adjourned\u202e",  # a bidi override: the console would show it reversed
    "x" * 501,
    "",
    "   ",
]


def _coded(code: str) -> Callable[[dict], bool]:
    return lambda alarm: alarm["code"] == code


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


async def _segment_count(api: Api, hearing_id: str) -> int:
    return sum(t["segments"] for t in (await recording(api, hearing_id))["originals"])


async def _refused_and_nothing_changed(
    api: Api, hearing_id: str, action: str, state: str, judge_token: str, manifest: Path
) -> None:
    for reason in UNRECORDABLE:
        before = manifest.read_bytes()
        segments = await _segment_count(api, hearing_id)
        status, body, headers = await _ask(api, hearing_id, action, reason, judge_token)
        assert status == 400, (reason, status, body)
        assert headers["Content-Type"].startswith("application/json")
        # (A lone surrogate may already be refused as the body is read: no text, whatever field.)
        assert "reason" in body["error"] or "surrogate" in body["error"], body
        assert (await recording(api, hearing_id))["state"] == state, reason
        # Nothing was written but what recording itself writes: the file only grew, by segments.
        after = manifest.read_bytes()
        assert after.startswith(before), reason
        added = [json.loads(line)["type"] for line in after[len(before) :].splitlines()]
        assert set(added) <= {"segment", "track"}, (reason, added)
        if state == "recording":

            async def grew(before: int = segments) -> bool:
                return await _segment_count(api, hearing_id) > before

            await eventually(grew, 10, f"segments still recorded after {reason[:20]!r}")


async def _ask(api, hearing_id: str, action: str, reason: str, token: str):
    """POST …/recording/pause or …/resume with ``reason``, as the judge console does."""
    return await api.request(
        "POST",
        f"/api/hearings/{hearing_id}/recording/{action}",
        json={"reason": reason},
        auth=token,
    )


async def test_a_reason_that_cannot_be_recorded_is_refused_and_nothing_changes(server):
    cast = Cast(server)
    try:
        hearing = await cast.api.create_hearing()
        hearing_id = hearing["id"]
        judge = await cast.join(hearing, "judge", 1)
        await wait_recorded(cast.api, hearing_id, 2)
        token = judge.token
        manifest = server.data_dir / "recordings" / hearing_id / "manifest.jsonl"

        await _refused_and_nothing_changed(
            cast.api, hearing_id, "pause", "recording", token, manifest
        )
        status, body, _ = await _ask(cast.api, hearing_id, "pause", "休庭十分钟", token)
        assert status == 200 and body["state"] == "paused", body
        await _refused_and_nothing_changed(
            cast.api, hearing_id, "resume", "paused", token, manifest
        )
        status, body, _ = await _ask(cast.api, hearing_id, "resume", "继续开庭", token)
        assert status == 200 and body["state"] == "recording", body
        events = [e["type"] for e in _lines(manifest) if e["type"] in ("pause", "resume")]
        assert events == ["pause", "resume"], events
        done = verify(server.data_dir, hearing_id)
        assert done.returncode == 0, done.stderr
    finally:
        await cast.close()


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "altered":
        # One hex digit of a sealed segment's SHA-256, in the middle: still valid JSON.
        lines = data.splitlines(keepends=True)
        segments = [i for i, line in enumerate(lines) if b'"type":"segment"' in line]
        i = segments[len(segments) // 2]
        at = lines[i].index(b'"sha256":"') + len(b'"sha256":"')
        digit = lines[i][at : at + 1]
        lines[i] = lines[i][:at] + (b"1" if digit != b"1" else b"2") + lines[i][at + 1 :]
        path.write_bytes(b"".join(lines))
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        with open(path, "ab") as f:
            f.write(b"\x00\xff not an entry \n")


def _verifiable_head(path: Path) -> str:
    head = "0" * 64
    try:
        for _, entry in read_entries(path):
            head = entry["hash"]
    except ChainError:
        pass
    return head


@pytest.mark.parametrize("how", ["altered", "truncated", "garbage"])
async def test_a_manifest_damaged_in_session_alarms_the_judge_and_recording_goes_on_in_a_new_chain(
    fresh_server, how
):
    server = fresh_server
    cast = Cast(server)
    try:
        hearing = await cast.api.create_hearing()
        hearing_id = hearing["id"]
        first = await cast.join(hearing, "judge", 1)
        await wait_recorded(cast.api, hearing_id, 3)
        directory = server.data_dir / "recordings" / hearing_id
        damaged = directory / "manifest.jsonl"
        _damage(damaged, how)
        found = damaged.read_bytes()
        await first.close()
        await asyncio.to_thread(server.restart)
        # The damaged chain is evidence: whatever it held when the server came back stays.
        kept = damaged.read_bytes()
        assert kept.startswith(found)

        # The alarm was raised at start-up, when nobody was connected: it stands, and reaches
        # each moderator as they join (before anyone publishes), and again after a reconnect.
        judge = await cast.join(hearing, "judge", 2, publish=False)
        alarm = await judge.wait_event("alarm", _coded(DAMAGED), timeout=20)
        assert alarm["source"] == "recorder" and alarm["hearing_id"] == hearing_id, alarm
        assert "manifest.jsonl" in alarm["message"] and "new chain" in alarm["message"], alarm
        assert re.search(r"ERROR .*recording_chain_damaged", server.log_text())
        clerk = await cast.join(hearing, "clerk", 3, publish=False)
        await clerk.wait_event("alarm", _coded(DAMAGED), timeout=10)
        await judge.close()
        judge = cast.participant(judge.token, 2, name="judge-2")
        await judge.start(publish=False)
        await judge.wait_event("alarm", _coded(DAMAGED), timeout=10)
        await judge.publish()

        listing: dict = {}

        async def judge_recorded() -> bool:
            # The first judge's tracks may be named again in the new chain (if the damage was
            # found while they were recording): only the judge now publishing must grow.
            listing.update(await recording(cast.api, hearing_id))
            tracks = [
                t for t in listing["originals"] if t["participant"]["id"] == judge.participant_id
            ]
            return len(tracks) == 2 and all(t["duration_seconds"] >= 2 for t in tracks)

        await eventually(judge_recorded, 40, "the judge is recorded in the new chain")
        assert listing["manifest_url"].endswith("/files/manifest-2.jsonl"), listing
        old, new = listing["chains"]
        assert old["file"] == "manifest.jsonl" and old["state"] == "damaged", old
        assert old["error"] and old["last_verified_hash"] == _verifiable_head(damaged), old
        assert new["file"] == "manifest-2.jsonl" and new["state"] == "current", new
        auth = {"Authorization": f"Bearer {server.admin_key}"}
        async with aiohttp.ClientSession() as session, session.get(old["url"], headers=auth) as r:
            assert r.status == 200 and await r.read() == kept  # the evidence, as it is

        chain = _lines(directory / "manifest-2.jsonl")
        start = chain[0]
        assert start["type"] == "start" and start["previous_chain"]["file"] == "manifest.jsonl"
        assert start["previous_chain"]["last_verified_hash"] == _verifiable_head(damaged)
        assert any(e["type"] == "segment" for e in chain)

        status, _, _ = await cast.api.request("POST", f"/api/hearings/{hearing_id}/end")
        assert status == 200

        async def stopped() -> bool:
            return (await recording(cast.api, hearing_id))["state"] == "stopped"

        await eventually(stopped, 30, "the recording stops with the hearing")
        done = verify(server.data_dir, hearing_id)
        assert done.returncode != 0, done.stdout
        assert "manifest.jsonl" in done.stderr and "damaged" in done.stderr, done.stderr
        assert "manifest-2.jsonl: OK" in done.stderr, done.stderr
        assert "state: stopped" in done.stderr, done.stderr
        assert damaged.read_bytes() == kept
    finally:
        await cast.close()


async def test_a_hearing_in_session_whose_recording_is_gone_at_restart_alarms_and_is_recorded(
    fresh_server,
):
    """The recorder is told of a hearing when its state changes; one already in session when the
    server starts must be recorded all the same, also with no folder at all (removed, or the
    server died before the first write), and the judge must hear that the record has a hole."""
    server = fresh_server
    cast = Cast(server)
    try:
        hearing = await cast.api.create_hearing()
        hearing_id = hearing["id"]
        first = await cast.join(hearing, "judge", 1)
        await wait_recorded(cast.api, hearing_id, 1)
        await first.close()
        await asyncio.to_thread(server.stop)
        directory = server.data_dir / "recordings" / hearing_id
        shutil.rmtree(directory)
        await asyncio.to_thread(server.start)

        judge = await cast.join(hearing, "judge", 2, publish=False)
        alarm = await judge.wait_event("alarm", _coded(MISSING), timeout=20)
        assert alarm["source"] == "recorder" and alarm["hearing_id"] == hearing_id, alarm
        assert re.search(r"ERROR .*recording_missing", server.log_text())
        clerk = await cast.join(hearing, "clerk", 3, publish=False)
        await clerk.wait_event("alarm", _coded(MISSING), timeout=10)
        await judge.publish()
        await wait_recorded(cast.api, hearing_id, 2)
        start = _lines(directory / "manifest.jsonl")[0]
        assert start["type"] == "start" and "not found" in start["reason"], start

        status, _, _ = await cast.api.request("POST", f"/api/hearings/{hearing_id}/end")
        assert status == 200

        async def stopped() -> bool:
            return (await recording(cast.api, hearing_id))["state"] == "stopped"

        await eventually(stopped, 30, "the recording stops with the hearing")
        done = verify(server.data_dir, hearing_id)
        assert done.returncode == 0, done.stderr
    finally:
        await cast.close()
