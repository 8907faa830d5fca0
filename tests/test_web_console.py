"""The judge console's broadcast panel and lobby in real headless Chromium against a real server.

The judge sees from which site a party waits (issue 4), pauses and resumes the recording with a
reason typed into the console (the manifest keeps it), puts a public hearing on air and takes it
off again, never gets a start button for a closed hearing, and sees the recorder's alarm as a
banner. The module's own server has a one-second broadcast delay so the stream appears quickly.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from signaling.models import Participant, ParticipantState, utc_now
from signaling.roles import Role
from signaling.store import MIGRATIONS, SCHEMA_VERSION, SqliteStore
from tests.browser import Browser, eventually, screenshot
from tests.e2e import Api
from tests.signaling_server import ServerProcess, start_server
from tests.test_web_room import open_tile_menu

pytestmark = pytest.mark.asyncio(loop_scope="module")

SITE = "青龙镇人民法庭"


@pytest.fixture(scope="module")
def court(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = start_server(
        tmp_path_factory.mktemp("console"),
        env={
            "CLOUDCOURT_BROADCAST_DELAY": "1",
            "CLOUDCOURT_JWT_SECRET": secrets.token_urlsafe(32),
        },
    )
    yield srv
    srv.stop()


async def open_console(browser: Browser, api: Api, hearing_id: str, label: str) -> Any:
    judge = await api.token(hearing_id, "judge", "王法官")
    page = await browser.page(label)
    await page.goto(api.abs(judge["join_url"]) + "&autojoin=1")
    await page.wait_for_selector("#view-room:not([hidden]) #console-side:not([hidden])")
    return page, judge


async def recording(api: Api, hearing_id: str, token: str) -> dict[str, Any]:
    status, data, _ = await api.request("GET", f"/api/hearings/{hearing_id}/recordings", auth=token)
    assert status == 200, data
    found: dict[str, Any] = data
    return found


async def test_a_schema_2_database_upgrades_to_participant_sites(tmp_path: Path) -> None:
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
        new = await store.get_participant("p_new")
        assert new is not None and new.site == SITE
    finally:
        await store.close()


async def test_site_is_validated_and_shown_in_lobby_and_caption(
    court: ServerProcess, browser: Browser
) -> None:
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
    # A closed hearing is never streamed: nothing to mask, no mask in the tile's menu.
    menu = await open_tile_menu(judge_page, party["participant_id"])
    assert await menu.locator(".act-mute-audio").count() == 1
    assert await menu.locator(".act-mask").count() == 0
    await judge_page.keyboard.press("Escape")
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


async def test_judge_pauses_and_resumes_recording_with_a_reason(
    court: ServerProcess, browser: Browser
) -> None:
    api = Api(court)
    h = await api.create_hearing(title="暂停录制")
    page, judge = await open_console(browser, api, h["id"], "judge pause")
    await page.wait_for_selector('#rec-state[data-state="recording"]', timeout=20_000)
    assert "录制中" in await page.inner_text("#rec-state")
    # In the judge's words; the chain's head and the segment count only in the tooltip.
    await page.wait_for_selector('#rec-integrity[data-integrity="ok"]')
    assert await page.inner_text("#rec-integrity") == "录像完整性校验：正常"
    assert not re.search(r"[0-9a-f]{8}|分段", await page.inner_text("#broadcast-panel"))
    tooltip = await page.get_attribute("#rec-integrity", "title") or ""
    assert re.search(r"（\d+ 个分段）.*校验链头：[0-9a-f]{64}$", tooltip), tooltip

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


async def test_judge_starts_and_stops_the_public_stream(
    court: ServerProcess, browser: Browser
) -> None:
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

    async def segment_listed() -> Any:
        status, text, _ = await api.request("GET", playlist, auth=None)
        if status == 200 and "#EXT-X-STREAM-INF" in text:
            # A master playlist (one variant per rendition): the segments are in the first one.
            variant = next(line for line in text.splitlines() if line and line[0] != "#")
            status, text, _ = await api.request("GET", f"/live/{h['id']}/{variant}", auth=None)
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


async def test_recorder_alarm_shows_as_a_banner(court: ServerProcess, browser: Browser) -> None:
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


async def open_party(
    browser: Browser, api: Api, hearing_id: str, name: str, **token_args: Any
) -> Any:
    party = await api.token(hearing_id, "party", name, **token_args)
    page = await browser.page(f"party {name}")
    await page.goto(api.abs(party["join_url"]) + "&autojoin=1")
    return page, party


async def test_judge_masks_a_party_for_the_public_stream(
    court: ServerProcess, browser: Browser
) -> None:
    api = Api(court)
    h = await api.create_hearing(title="遮蔽未成年证人", public=True)
    judge_page, judge = await open_console(browser, api, h["id"], "judge mask")
    party_page, party = await open_party(browser, api, h["id"], "小明", admitted=True)
    pid = party["participant_id"]
    tile = f'.tile.person[data-participant-id="{pid}"]'
    await judge_page.wait_for_selector(tile)
    menu = await open_tile_menu(judge_page, pid)
    assert await menu.locator(".act-mask").inner_text() == "在公开直播中遮蔽此人"
    assert await judge_page.locator(f"{tile} .masked").count() == 0

    await menu.locator(".act-mask").click()
    badge = await judge_page.wait_for_selector(f"{tile} .label .masked")
    assert await badge.inner_text() == "公开直播中已遮蔽"
    menu = await open_tile_menu(judge_page, pid)
    assert await menu.locator(".act-mask").inner_text() == "在公开直播中取消遮蔽"
    await screenshot(judge_page, "console-masked")
    # The server keeps it: a clerk's console opened now shows the same badge.
    clerk = await api.token(h["id"], "clerk", "书记员")
    clerk_page = await browser.page("clerk mask")
    await clerk_page.goto(api.abs(clerk["join_url"]) + "&autojoin=1")
    await clerk_page.wait_for_selector(f"{tile} .label .masked")

    await menu.locator(".act-mask").click()
    await judge_page.wait_for_selector(f"{tile} .label .masked", state="detached")
    menu = await open_tile_menu(judge_page, pid)
    assert await menu.locator(".act-mask").inner_text() == "在公开直播中遮蔽此人"
    await clerk_page.reload()
    await (await open_tile_menu(clerk_page, pid)).locator(".act-mask").wait_for()
    assert await clerk_page.locator(f"{tile} .masked").count() == 0
    # The party is offered no masking: its menu of the judge's tile has only its own view.
    party_menu = await open_tile_menu(party_page, judge["participant_id"])
    assert await party_menu.locator(".act-mask").count() == 0
    assert await party_menu.locator("[role=menuitem]").all_inner_texts() == [
        "我不看此画面（只在我的屏幕上）"
    ]
    for page in (clerk_page, party_page, judge_page):
        await page.close()


async def _waited(page: Page, entry: str) -> int | None:
    text = await page.inner_text(f"{entry} .waited")
    found = re.fullmatch(r"已等待 (\d+) 秒", text)
    return int(found.group(1)) if found else None


async def test_lobby_shows_how_long_each_person_has_waited(
    court: ServerProcess, browser: Browser
) -> None:
    """The wait counts from when the party entered the lobby, before the judge was there."""
    api = Api(court)
    h = await api.create_hearing(title="候审计时")
    party_page, party = await open_party(browser, api, h["id"], "张三")
    await party_page.wait_for_selector("#view-lobby:not([hidden])")
    await asyncio.sleep(3)  # the wait being measured
    judge_page, _ = await open_console(browser, api, h["id"], "judge lobby")
    entry = f'#lobby-list li[data-participant-id="{party["participant_id"]}"]'
    await judge_page.wait_for_selector(f"{entry} .waited")
    first = await eventually(lambda: _waited(judge_page, entry), "the wait in seconds")
    assert first >= 3, first

    async def later() -> Any:
        now = await _waited(judge_page, entry)
        return now if now is not None and now > first else None

    await eventually(later, "the wait counting on")
    for page in (party_page, judge_page):
        await page.close()


# Whether the second selector's box lies wholly inside the first's.
INSIDE_JS = """
([outer, inner]) => {
  const o = document.querySelector(outer).getBoundingClientRect();
  const i = document.querySelector(inner).getBoundingClientRect();
  return i.width > 0 && i.left >= o.left && i.right <= o.right && i.top >= o.top
    && i.bottom <= o.bottom;
}
"""

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


async def test_console_in_english_has_no_chinese_left(
    court: ServerProcess, browser: Browser
) -> None:
    """After the language switch, the lobby, the tile menus, the controls and the broadcast panel
    are all English (the participants' own names are ASCII here, so any CJK left is UI text)."""
    api = Api(court)
    h = await api.create_hearing(title="English console", public=True)
    judge_page, judge = await open_console(browser, api, h["id"], "judge en")
    admitted_page, admitted = await open_party(browser, api, h["id"], "Zhang San", admitted=True)
    waiting_page, waiting = await open_party(browser, api, h["id"], "Li Si")
    entry = f'#lobby-list li[data-participant-id="{waiting["participant_id"]}"]'
    tile = f'.tile.person[data-participant-id="{admitted["participant_id"]}"]'
    await judge_page.wait_for_selector(f"{entry} .waited")
    await judge_page.wait_for_selector(f"{tile} .tile-menu-button")
    await judge_page.wait_for_selector("#live-start:not([hidden])")

    await judge_page.click("#lang-switch")
    await judge_page.wait_for_selector("#lang-switch:text('中文')")
    await open_tile_menu(judge_page, admitted["participant_id"])
    expected = {
        "#lobby-panel": ["Waiting room", "Li Si · Party", "Admit", "Deny", "waiting"],
        tile: ["Zhang San", "Party"],
        "#tile-menu": [
            "Stop watching this video (only on my screen)",
            "Mute their microphone (for everyone)",
            "Turn their camera off (for everyone)",
            "Hide from the public stream",
            "Remove from the hearing",
        ],
        "#controls": [
            "Mute microphone",
            "Turn camera off",
            "Share screen (evidence)",
            "Use low bandwidth",
            "End hearing",
        ],
        "#broadcast-panel": [
            "Recording and public stream",
            "Public livestream",
            "Not on air",
            "Start public stream",
        ],
        ".bar": ["Cloud Court", "Connected", "Hearing time"],
    }
    for selector, words in expected.items():

        async def english(selector: str = selector, words: list[str] = words) -> Any:
            text = await judge_page.inner_text(selector)
            if selector == ".bar":  # the hearing's title and the switch back are not UI text
                text = text.replace(await judge_page.inner_text("#hearing-title"), "")
                text = text.replace("中文", "")
            return text if all(w in text for w in words) else None

        text = await eventually(english, f"English in {selector}")
        assert not CJK.search(text), (selector, text)
    # The tile keeps its name row in English (long button texts once pushed it out of the tile),
    # and "(me)" is a word of its own.
    for who, name in ((admitted, "Zhang San"), (judge, "王法官 (me)")):
        box = f'.tile.person[data-participant-id="{who["participant_id"]}"]'
        assert await judge_page.inner_text(f"{box} .label .name") == name
        assert await judge_page.evaluate(INSIDE_JS, [box, f"{box} .label .name"]), who
    await screenshot(judge_page, "console-english")
    for page in (admitted_page, waiting_page, judge_page):
        await page.close()
