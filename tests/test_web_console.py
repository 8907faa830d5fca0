"""The judge console's broadcast panel and lobby in real headless Chromium against a real server.

The judge sees from which site a party waits (issue 4), pauses and resumes the recording with a
reason typed into the console (the manifest keeps it), puts a public hearing on air and takes it
off again, never gets a start button for a closed hearing, and sees the recorder's alarm as a
banner. The module's own server has a one-second broadcast delay so the stream appears quickly.
"""

from __future__ import annotations

import json
import secrets
import sqlite3

import pytest

from signaling.models import Participant, ParticipantState, utc_now
from signaling.roles import Role
from signaling.store import MIGRATIONS, SCHEMA_VERSION, SqliteStore
from tests.browser import eventually, screenshot
from tests.e2e import Api
from tests.signaling_server import start_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

SITE = "青龙镇人民法庭"


@pytest.fixture(scope="module")
def court(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("console"),
        env={
            "CLOUDCOURT_BROADCAST_DELAY": "1",
            "CLOUDCOURT_JWT_SECRET": secrets.token_urlsafe(32),
        },
    )
    yield srv
    srv.stop()


async def open_console(browser, api: Api, hearing_id: str, label: str):
    judge = await api.token(hearing_id, "judge", "王法官")
    page = await browser.page(label)
    await page.goto(api.abs(judge["join_url"]) + "&autojoin=1")
    await page.wait_for_selector("#view-room:not([hidden]) #console-side:not([hidden])")
    return page, judge


async def recording(api: Api, hearing_id: str, token: str) -> dict:
    status, data, _ = await api.request("GET", f"/api/hearings/{hearing_id}/recordings", auth=token)
    assert status == 200, data
    return data


async def test_a_schema_2_database_upgrades_to_participant_sites(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for migration in MIGRATIONS[:2]:
        db.executescript(migration)
    now = utc_now()
    db.execute(
        "INSERT INTO hearings (id, case_number, title, court, case_type, public, scheduled_at,"
        " state, created_at, updated_at) VALUES ('h_old', '(2025)旧2号', '旧案', '旧法院',"
        " 'civil', 0, ?, 'open', ?, ?)",
        (now, now, now),
    )
    db.execute(
        "INSERT INTO participants (id, hearing_id, name, role, state, admitted, revoked,"
        " created_at) VALUES ('p_old', 'h_old', '证人', 'witness', 'lobby', 0, 0, ?)",
        (now,),
    )
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()

    store = await SqliteStore.open(path)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        old = await store.get_participant("p_old")
        assert old is not None and old.site is None and old.name == "证人"
        assert old.to_json()["site"] is None
        await store.create_participant(
            Participant(
                "p_new",
                "h_old",
                "张三",
                Role.PARTY,
                ParticipantState.LOBBY,
                False,
                False,
                now,
                site=SITE,
            )
        )
        assert (await store.get_participant("p_new")).site == SITE
    finally:
        await store.close()


async def test_site_is_validated_and_shown_in_lobby_and_caption(court, browser):
    api = Api(court)
    h = await api.create_hearing(title="青龙镇巡回审判")
    path = f"/api/hearings/{h['id']}/tokens"
    for bad in ("x" * 101, 5, "  "):
        status, body, _ = await api.request(
            "POST", path, json={"role": "party", "name": "张三", "site": bad}
        )
        assert status == 400 and "site" in body["error"], (bad, body)

    judge_page, judge = await open_console(browser, api, h["id"], "judge")
    party = await api.token(h["id"], "party", "张三", site=SITE)
    assert party["site"] == SITE and party["masked"] is False
    party_page = await browser.page("party")
    await party_page.goto(api.abs(party["join_url"]) + "&autojoin=1")
    entry = f'#lobby-list li[data-participant-id="{party["participant_id"]}"]'
    await judge_page.wait_for_selector(entry)
    assert SITE in await judge_page.inner_text(entry)
    assert "来自" in await judge_page.inner_text(entry)

    # The Participant object carries the site (admit answers with it).
    status, body, _ = await api.request(
        "POST",
        f"/api/hearings/{h['id']}/participants/{party['participant_id']}/admit",
        auth=judge["token"],
    )
    assert status == 200 and body["participant"]["site"] == SITE, body
    caption = f'.tile[data-participant-id="{party["participant_id"]}"] .label .site'
    await judge_page.wait_for_selector(caption)
    assert SITE in await judge_page.inner_text(caption)
    await screenshot(judge_page, "console-site")

    # A closed hearing: the panel says so and offers no start button.
    await eventually(
        lambda: judge_page.inner_text("#live-state"), "the closed-hearing notice on the console"
    )
    assert "不公开审理，不能直播" in await judge_page.inner_text("#live-state")
    assert await judge_page.locator("#live-start").is_hidden()
    assert await judge_page.locator("#live-stop").is_hidden()
    await party_page.close()
    await judge_page.close()


async def test_judge_pauses_and_resumes_recording_with_a_reason(court, browser):
    api = Api(court)
    h = await api.create_hearing(title="暂停录制")
    page, judge = await open_console(browser, api, h["id"], "judge pause")
    await page.wait_for_selector('#rec-state[data-state="recording"]', timeout=20_000)
    assert "录制中" in await page.inner_text("#rec-state")

    for action, reason, state, label in (
        ("pause", "休庭十分钟", "paused", "录制已暂停"),
        ("resume", "继续开庭", "recording", "录制中"),
    ):
        await page.click("#rec-toggle")
        await page.wait_for_selector("#rec-form:not([hidden])")
        # An empty reason is refused in the console, without a request.
        await page.click("#rec-confirm")
        await page.wait_for_selector("#broadcast-error:not([hidden])")
        await page.fill("#rec-reason", reason)
        await page.click("#rec-confirm")
        await page.wait_for_selector(f'#rec-state[data-state="{state}"]')
        assert await page.locator("#rec-form").is_hidden()
        assert await page.locator("#rec-toggle").is_visible()
        assert label in await page.inner_text("#rec-state")
        data = await recording(api, h["id"], judge["token"])
        assert data["state"] == state, data
        last = data["events"][-1]
        assert (last["type"], last["reason"], last["actor"]) == (
            action,
            reason,
            judge["participant_id"],
        ), last
        status, text, _ = await api.request("GET", data["manifest_url"], auth=judge["token"])
        assert status == 200
        # The manifest (hash-chained, what a court archives) has the same entry.
        marks = [e for e in map(json.loads, text.splitlines()) if e["type"] in ("pause", "resume")]
        assert (marks[-1]["type"], marks[-1]["reason"]) == (action, reason), marks
        if action == "pause":
            await page.wait_for_selector("#rec-reason-shown:not([hidden])")
            assert reason in await page.inner_text("#rec-reason-shown")
            await screenshot(page, "console-recording-paused")
    assert await page.locator("#rec-reason-shown").is_hidden()
    await page.click("#lang-switch")
    await page.wait_for_selector("#rec-toggle:text('Pause recording')")
    assert await page.inner_text("#rec-state") == "Recording"
    await page.close()


async def test_judge_starts_and_stops_the_public_stream(court, browser):
    api = Api(court)
    h = await api.create_hearing(title="公开审理直播", public=True)
    page, _ = await open_console(browser, api, h["id"], "judge live")
    await page.wait_for_selector("#live-start:not([hidden])")
    assert "未直播" in await page.inner_text("#live-state")
    playlist = f"/live/{h['id']}/index.m3u8"
    status, _, _ = await api.request("GET", playlist, auth=None)
    assert status == 404

    await page.click("#live-start")
    await page.wait_for_selector('#live-state[data-live="1"]')
    assert "直播中" in await page.inner_text("#live-state")

    async def segment_listed():
        status, text, _ = await api.request("GET", playlist, auth=None)
        return status == 200 and ".ts" in text

    await eventually(segment_listed, "a segment in the public playlist", timeout=30)
    await screenshot(page, "console-live")

    await page.click("#live-stop")
    await page.wait_for_selector('#live-state[data-live="0"]')
    await page.wait_for_selector("#live-start:not([hidden])")
    # The public catalog (which the console polls) agrees: upcoming, no longer live.
    status, listing, _ = await api.request("GET", "/api/catalog?status=live&limit=100", auth=None)
    assert status == 200 and h["id"] not in [i["id"] for i in listing["items"]], listing
    await page.close()


async def test_recorder_alarm_shows_as_a_banner(court, browser):
    api = Api(court)
    h = await api.create_hearing(title="录制告警")
    # A file where the hearing's recordings directory must go: the recorder cannot start.
    (court.data_dir / "recordings").mkdir(exist_ok=True)
    (court.data_dir / "recordings" / h["id"]).write_text("not a directory")
    page, _ = await open_console(browser, api, h["id"], "judge alarm")
    await page.wait_for_selector('#alarm-banner:not([hidden])[data-code="recording_error"]')
    text = await page.inner_text("#alarm-banner")
    assert "录制告警" in text and "没有录制" in text, text
    await screenshot(page, "console-alarm")
    await page.close()
