"""The site officer's desk (/officer) in real headless Chromium against a real server.

The officer of village site A signs in on /login and lands on their desk: their site with its
kiosk's state; an intake of a neighbour dispute of two residents of A's village with an
evidence file → the page shows it at site A's mediation (the ladder's same-village rule), with
the evidence's SHA-256 computed in the browser equal to the server's and to the file's; a
cross-village intake shows 指挥中心; a wrong 身份证号 is caught before anything is sent; a
dispute received long ago shows 已超期; the officer escalates a dispute to the liaison judge
with a reason and the history says why; only site A's disputes are listed; the page fits
1366×768 and a tablet both ways without scrolling sideways; English on a click.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import FilePayload, Page

from tests.browser import Browser, eventually, screenshot
from tests.desk_network import (
    contains,
    intake,
    no_sideways,
    party,
    refreshed,
    site_a,
    site_a_dispute,
)
from tests.desk_network import sign_in as desk_sign_in
from tests.e2e import Api
from tests.network import account, heartbeat, site
from tests.signaling_server import ServerProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def net(server: ServerProcess) -> dict[str, Any]:
    """Site A (东山村, its judge, officer and mediator) and site B (西山村, another officer)."""
    api = Api(server)
    net = await site_a(api)
    officer_b = await account(api, "officer", name="赵庭务")
    b = await site(
        api,
        kind="village",
        name="青山镇西山村云法庭",
        township="青山镇",
        village="西山村",
        liaison_judge_id=net["judge"]["id"],
        officer_id=officer_b["id"],
    )
    return {**net, "officer_b": officer_b, "b": b}


async def sign_in(browser: Browser, api: Api, who: dict[str, Any], label: str, **kw: Any) -> Page:
    return await desk_sign_in(browser, api, who, label, lands="/officer", **kw)


async def fill_party(page: Page, index: int, p: dict[str, Any]) -> None:
    box = page.locator("#parties .party").nth(index)
    await box.locator("[name=side]").select_option(p["side"])
    for name in ("name", "id_number", "phone", "address", "township", "village"):
        await box.locator(f"[name={name}]").fill(p[name])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desk(net: dict[str, Any], browser: Browser) -> Page:
    return await sign_in(browser, net["api"], net["officer"], "officer A")


async def test_my_site_is_shown_with_its_kiosk_state(desk: Page, net: dict[str, Any]) -> None:
    assert await desk.inner_text("#site-name") == "青山镇东山村云法庭"
    assert await desk.inner_text("#site-kind") == "社区(村)云法庭"
    # No kiosk has sent a heartbeat: the site is offline.
    assert await desk.get_attribute("#site-online", "data-online") == "false"
    assert "李庭务" in await desk.inner_text("#who")
    await screenshot(desk, "officer-desk")


async def test_the_officer_enrols_the_sites_kiosk_and_sees_it_online(
    desk: Page, net: dict[str, Any]
) -> None:
    await desk.click("#kiosks summary")
    await desk.fill("#enrol-label", "调解室一体机")
    await desk.click("#enrol-submit")
    link = desk.locator("#enrolled-link")
    await link.wait_for()
    href = await link.get_attribute("href")
    assert href and "/kiosk?credential=" in href, href
    # The kiosk on the site's machine heartbeats with the credential of that link.
    await heartbeat(net["api"], href.split("credential=", 1)[1])
    await refreshed(desk)
    await desk.wait_for_selector("#site-online[data-online='true']")
    assert await desk.inner_text("#site-online") == "在线"
    assert "调解室一体机" in await desk.inner_text("#devices")


async def test_intake_of_two_residents_lands_at_my_sites_mediation_with_the_evidence_hash(
    desk: Page, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    content = "东山村张家院墙照片：院墙向李家通道侵占约半米。\n".encode() * 50
    sha = hashlib.sha256(content).hexdigest()
    await desk.click("#tab-intake")
    await desk.select_option("#intake-type", "neighbour")
    await desk.fill("#intake-summary", "张某与李某因院墙占用通道发生纠纷")
    # The parties' village and township are filled with the site's: residents of A.
    first = desk.locator("#parties .party").nth(0)
    assert await first.locator("[name=village]").input_value() == "东山村"
    await fill_party(desk, 0, party("applicant", "张三", "东山村"))
    await fill_party(desk, 1, party("respondent", "李四", "东山村"))
    await desk.set_input_files(
        "#intake-files",
        files=[FilePayload(name="院墙照片.txt", mimeType="text/plain", buffer=content)],
    )
    # Hashed in the browser as soon as the file is chosen.
    row = desk.locator("#intake-hashes li").first
    await eventually(
        lambda: _text_is(row.locator(".local"), sha), "the browser's SHA-256 of the file"
    )
    await desk.click("#intake-submit")
    result = desk.locator("#intake-result")
    await result.wait_for(state="visible")
    text = await result.inner_text()
    assert "站点调解：青山镇东山村云法庭" in text, text
    assert "站点调解中" in text, text
    # The server's hash beside the browser's: equal, and equal to the file's.
    row = desk.locator("#intake-result #result-hashes li").first
    await desk.wait_for_selector("#intake-result li[data-match='true']")
    assert await row.locator(".local").inner_text() == sha
    assert await row.locator(".server").inner_text() == sha
    assert "一致" in await row.locator(".verdict").inner_text()
    await screenshot(desk, "officer-intake-result")

    # The API agrees: at site A's mediation, by the same-village rule, the file's hash stored.
    status, listing, _ = await api.request(
        "GET", f"/api/disputes?site_id={net['a']['id']}", auth=net["officer"]["session"]
    )
    assert status == 200
    mine = [d for d in listing["disputes"] if d["summary"] == "张某与李某因院墙占用通道发生纠纷"]
    assert len(mine) == 1, listing
    dispute = mine[0]
    assert dispute["state"] == "site_mediation"
    assert dispute["handler"] == {"level": "site", "site_id": net["a"]["id"]}
    assert dispute["rule_id"] == "same-village"
    # Masked in what the page was given.
    assert "*" in dispute["parties"][0]["id_number"]

    # Opened: its routing rule, masked parties, the evidence with the hash.
    await desk.click("#intake-result [data-act='open']")
    detail = desk.locator("#dispute-detail")
    await detail.wait_for(state="visible")
    await desk.wait_for_selector(f"#dispute-detail [data-sha256='{sha}']")
    assert await detail.locator(".sha256").inner_text() == sha
    route = await detail.locator("[data-fact='dispute.route']").inner_text()
    assert "same-village" in route, route
    # No session and no agreement yet: those parts are left out, not printed as "null".
    shown = await detail.inner_text()
    assert "null" not in shown and "undefined" not in shown, shown
    pid = await detail.locator("td.pid").first.inner_text()
    assert "********" in pid and len(pid) == 18, pid
    assert "****" in await detail.locator("td.phone").first.inner_text()
    await screenshot(desk, "officer-dispute-opened")


async def _text_is(locator: Any, expected: str) -> bool:
    return bool(await locator.inner_text() == expected)


async def test_a_cross_village_intake_goes_to_the_command_center(desk: Page) -> None:
    await desk.click("#tab-intake")
    await desk.select_option("#intake-type", "neighbour")
    await desk.fill("#intake-summary", "东山村王某与南岭村陈某宅基地边界纠纷")
    await fill_party(desk, 0, party("applicant", "王五", "东山村"))
    await fill_party(desk, 1, party("respondent", "陈六", "南岭村"))
    await desk.click("#intake-submit")
    result = desk.locator("#intake-result")
    await eventually(lambda: contains(result, "指挥中心"), "the intake's result")
    text = await result.inner_text()
    assert "指挥中心" in text, text
    assert "null" not in text, text  # no files: no hash list, and nothing in its place
    assert await result.locator("[data-level]").get_attribute("data-level") == "command_center"


async def test_a_wrong_id_number_is_caught_before_sending(desk: Page, net: dict[str, Any]) -> None:
    api: Api = net["api"]
    before = await _count(api, net)
    await desk.click("#tab-intake")
    await desk.select_option("#intake-type", "family")
    await desk.fill("#intake-summary", "赡养纠纷")
    bad = party("applicant", "孙七", "东山村")
    good = bad["id_number"]
    # One digit changed: the check character no longer matches.
    bad["id_number"] = good[:8] + str((int(good[8]) + 1) % 10) + good[9:]
    await fill_party(desk, 0, bad)
    await fill_party(desk, 1, party("respondent", "孙八", "东山村"))
    await desk.click("#intake-submit")
    error = desk.locator("#parties .party").nth(0).locator(".field-error")
    await error.wait_for(state="visible")
    assert "身份证号码有误" in await error.inner_text()
    assert (
        await desk.locator("#parties .party [name=id_number]").first.get_attribute("aria-invalid")
        == "true"
    )
    assert await _count(api, net) == before


async def _count(api: Api, net: dict[str, Any]) -> int:
    status, listing, _ = await api.request("GET", "/api/disputes", auth=net["officer"]["session"])
    assert status == 200, listing
    return len(listing["disputes"])


async def test_a_dispute_received_long_ago_shows_overdue_and_only_my_sites_are_listed(
    desk: Page, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    late = await site_a_dispute(
        net,
        "买卖合同货款纠纷（纸质材料早已收到）",
        "钱一",
        "钱二",
        type="sale",
        received_at=long_ago,
    )
    assert late["overdue"], late
    other = await intake(
        api,
        net["officer_b"]["session"],
        net["b"]["id"],
        summary="西山村的纠纷",
        parties=[party("applicant", "吴一", "西山村"), party("respondent", "吴二", "西山村")],
    )
    await desk.click("#tab-list")
    await refreshed(desk)
    item = desk.locator(f"#disputes li[data-dispute='{late['id']}']")
    await item.wait_for()
    assert "已超期" in await item.inner_text()
    assert await item.get_attribute("data-overdue") == "true"
    assert await desk.locator(f"#disputes li[data-dispute='{other['id']}']").count() == 0
    await item.locator("button").click()
    overdue = desk.locator("#dispute-detail .deadlines li[data-overdue='true']")
    await overdue.first.wait_for()
    assert "已超期" in await overdue.first.inner_text()
    color = await overdue.first.evaluate("el => getComputedStyle(el).color")
    assert color == "rgb(255, 123, 114)", color  # red
    await screenshot(desk, "officer-overdue")


async def test_the_officer_escalates_to_the_liaison_judge_with_a_reason(
    desk: Page, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    d = await site_a_dispute(net, "邻里噪音纠纷，多次调解未果", "郑一", "郑二")
    await desk.click("#tab-list")
    await refreshed(desk)
    await desk.locator(f"#disputes li[data-dispute='{d['id']}'] button").click()
    detail = desk.locator("#dispute-detail")
    await detail.locator(f"[data-dispute='{d['id']}']").wait_for()
    # Appoint the site's mediator first: the appointment is logged, the state unchanged.
    await detail.locator("[data-act='appoint']").click()
    await detail.locator("#appoint-pick").select_option(net["mediator"]["id"])
    await detail.locator("form.reason-form button[type=submit]").click()
    await eventually(
        lambda: contains(detail.locator("[data-fact='dispute.mediator']"), "王调解"),
        "the appointed mediator",
    )
    await detail.locator("[data-act='escalate']").click()
    await detail.locator("form.reason-form input").fill("双方分歧较大，请法官指导调解")
    await detail.locator("form.reason-form button[type=submit]").click()
    await detail.locator(".dispute[data-state='judge_mediation']").wait_for()
    history = await detail.locator(".events").inner_text()
    assert "双方分歧较大，请法官指导调解" in history, history
    assert "法官指导调解中" in history
    status, got, _ = await api.request(
        "GET", f"/api/disputes/{d['id']}", auth=net["officer"]["session"]
    )
    assert status == 200 and got["state"] == "judge_mediation", got
    assert got["judge_id"] == net["judge"]["id"]


async def test_the_desk_fits_a_laptop_and_a_tablet_both_ways(desk: Page) -> None:
    await desk.click("#tab-list")
    await desk.locator("#disputes li button").first.click()
    await desk.locator("#dispute-detail .evidence").wait_for()
    await no_sideways(desk, "officer-list")
    await desk.click("#tab-intake")
    await no_sideways(desk, "officer-intake")


async def test_english_on_a_click(desk: Page) -> None:
    await desk.click("#lang-switch")
    await eventually(
        lambda: contains(desk.locator(".bar .brand"), "Site officer"), "the English title"
    )
    assert await desk.inner_text("#tab-intake") == "Take in a dispute"
    assert await desk.inner_text("#site-kind") == "Village cloud court"
    # The longer English words fit too.
    await desk.click("#tab-list")
    await desk.locator("#disputes li button").first.click()
    await no_sideways(desk, "officer-en")
    await desk.click("#lang-switch")
    await eventually(lambda: contains(desk.locator(".bar .brand"), "庭务主任"), "back to zh-CN")


async def test_the_mediator_accepts_and_the_officer_opens_the_mediation_session(
    desk: Page, browser: Browser, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    o = net["officer"]["session"]
    d = await site_a_dispute(net, "家庭赡养费纠纷", "冯一", "冯二", type="family")
    status, _, _ = await api.request(
        "POST",
        f"/api/disputes/{d['id']}/mediator",
        json={"mediator_id": net["mediator"]["id"]},
        auth=o,
    )
    assert status == 200
    # The mediator's own desk (a mediator of the site uses /officer too): accept.
    page = await sign_in(browser, api, net["mediator"], "mediator")
    await page.locator(f"#disputes li[data-dispute='{d['id']}'] button").click()
    detail = page.locator("#dispute-detail")
    await detail.locator("[data-act='accept']").click()
    await eventually(
        lambda: contains(detail.locator("[data-fact='dispute.mediator']"), "已接受"),
        "the mediator's acceptance",
    )
    await page.close()
    # The officer starts the session: the site machine's (kiosk) seat opens in a new tab.
    await desk.click("#tab-list")
    await refreshed(desk)
    await desk.locator(f"#disputes li[data-dispute='{d['id']}'] button").click()
    detail = desk.locator("#dispute-detail")
    await detail.locator(f".dispute[data-dispute='{d['id']}']").wait_for()
    async with desk.context.expect_page() as opened:
        await detail.locator("[data-act='session']").click()
    tab = await opened.value
    await eventually(lambda: _has(tab, "/join/"), "the session's join link")
    assert "token=" in tab.url
    await tab.close()
    await detail.locator(".sessions li").wait_for()
    status, sessions, _ = await api.request("GET", f"/api/disputes/{d['id']}/sessions", auth=o)
    assert status == 200 and len(sessions["sessions"]) == 1, sessions
    hearing = sessions["sessions"][0]["hearing"]
    assert hearing["kind"] == "mediation" and hearing["id"] in tab.url


async def _has(page: Page, part: str) -> bool:
    return part in page.url


async def test_a_party_away_from_the_site_gets_a_signing_link_from_the_officer(
    desk: Page, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    o, m = net["officer"]["session"], net["mediator"]["session"]
    away = party("respondent", "褚二", "东山村")
    d = await intake(
        api,
        o,
        net["a"]["id"],
        summary="借款纠纷，被申请人在外地务工",
        parties=[party("applicant", "褚一", "东山村"), away],
        type="finance",
    )
    for path, auth, body in (
        (f"/api/disputes/{d['id']}/mediator", o, {"mediator_id": net["mediator"]["id"]}),
        (f"/api/disputes/{d['id']}/mediator/accept", m, None),
    ):
        status, data, _ = await api.request("POST", path, json=body, auth=auth)
        assert status == 200, (path, status, data)
    status, doc, _ = await api.request(
        "POST",
        f"/api/disputes/{d['id']}/agreements",
        json={"terms": ["褚二于2027年3月1日前归还借款一万元。"]},
        auth=m,
    )
    assert status == 201, doc
    await desk.click("#tab-list")
    await refreshed(desk)
    await desk.locator(f"#disputes li[data-dispute='{d['id']}'] button").click()
    part = desk.locator(f"#dispute-detail .agreement[data-document='{doc['id']}']")
    await part.wait_for()
    assert await part.locator(".text-sha256").inner_text() == doc["text_sha256"]
    respondent = next(p for p in d["parties"] if p["side"] == "respondent")
    row = part.locator(f"li[data-signer='party:{respondent['id']}']")
    assert "待签名" in await row.inner_text()
    await row.locator("[data-act='link']").click()
    link = row.locator("a.link-url")
    await link.wait_for()
    url = await link.get_attribute("href")
    assert url and f"/sign?document={doc['id']}#link=" in url, url
    # The link's token is the party's own credential for the document, once the party proved
    # who they are with the end of their ID number (docs/SIGNING.md).
    token = url.split("#link=", 1)[1]
    status, seen, _ = await api.request("GET", f"/api/documents/{doc['id']}", auth=token)
    assert status == 403, (status, seen)
    status, proved, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/identity",
        json={"id_last6": away["id_number"][-6:]},
        auth=token,
    )
    assert status == 200, proved
    status, seen, _ = await api.request("GET", f"/api/documents/{doc['id']}", auth=token)
    assert status == 200 and seen["id"] == doc["id"], (status, seen)


async def test_the_admin_key_opens_the_desk_over_every_site(
    browser: Browser, server: ServerProcess, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    page = await browser.page("admin key", media=False)
    await page.goto(api.abs("/login?next=/officer"))
    await page.click("#admin-key-box summary")
    await page.fill("#admin-key", server.admin_key)
    await page.click("#key-submit")
    await page.wait_for_url("**/officer")
    await page.wait_for_selector("body[data-ready='1']")
    # Every site to choose from; the other site's disputes with it.
    options = page.locator("#site-pick option")
    values = {await options.nth(i).get_attribute("value") for i in range(await options.count())}
    assert {net["a"]["id"], net["b"]["id"]} <= values, values
    await page.select_option("#site-pick", net["b"]["id"])
    await eventually(lambda: contains(page.locator("#site-name"), "西山村"), "site B chosen")
    # The list of the site chosen before stays until the new site's disputes arrive.
    await eventually(
        lambda: contains(page.locator("#disputes"), "西山村的纠纷"), "site B's disputes"
    )
    await page.close()


async def test_a_police_stations_intake_is_mediated_by_the_police_then_by_the_judge(
    browser: Browser, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    officer = await account(api, "officer", name="派出所民警")
    station = await site(
        api,
        kind="police",
        name="青山派出所警法诉讼服务共享平台",
        township="青山镇",
        liaison_judge_id=net["judge"]["id"],
        officer_id=officer["id"],
    )
    d = await intake(
        api,
        officer["session"],
        station["id"],
        summary="酒后冲突致轻微伤的赔偿纠纷",
        type="other",
        parties=[party("applicant", "卫一", "东山村"), party("respondent", "卫二", "东山村")],
    )
    page = await sign_in(browser, api, officer, "police officer")
    item = page.locator(f"#disputes li[data-dispute='{d['id']}']")
    await item.wait_for()
    assert "民警调解：青山派出所警法诉讼服务共享平台" in await item.inner_text()
    await item.locator("button").click()
    detail = page.locator("#dispute-detail")
    await detail.locator("[data-act='failed']").click()
    await detail.locator("form.reason-form input").fill("双方对赔偿数额分歧大，警调未成")
    await detail.locator("form.reason-form button[type=submit]").click()
    # The police ladder: a failed police mediation goes on to the liaison judge.
    await detail.locator(".dispute[data-state='judge_mediation']").wait_for()
    assert "法官指导调解" in await detail.locator("[data-fact='dispute.handler']").inner_text()
    assert "双方对赔偿数额分歧大，警调未成" in await detail.locator(".events").inner_text()
    await page.close()
