"""The liaison judge's desk (/liaison) in real headless Chromium against a real server.

The liaison judge of sites A and A2 signs in on /login and lands on their desk: their sites
only (not site B, another judge's), and only their sites' disputes; the overdue one is under
已超期; an agreement signed by both parties and the mediator, applied for judicial confirmation
by the site's officer (all set up through the API), waits under 待司法确认 with its text, the
text's SHA-256 and each signature's chain hash; the judge confirms it and sees the ruling with
its hash and its PDF; a failed mediation's filing package downloads and is filed online. A
command-center account gets the command center's desk with every site. Fits a tablet.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Page

from tests.browser import Browser, eventually, screenshot
from tests.desk_network import (
    contains,
    intake,
    no_sideways,
    party,
    post,
    refreshed,
    site_a,
    site_a_dispute,
)
from tests.desk_network import sign_in as desk_sign_in
from tests.e2e import Api
from tests.network import account, site
from tests.signaling_server import ServerProcess
from tests.signing_network import signature_png

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def net(server: ServerProcess) -> dict[str, Any]:
    api = Api(server)
    net = await site_a(api, county="青山县")
    judge, officer, a = net["judge"], net["officer"], net["a"]
    judge_b = await account(api, "judge", name="吴法官")
    officer_b = await account(api, "officer", name="赵庭务")
    command = await account(api, "command", name="指挥中心值班员")
    a2 = await site(
        api, kind="township", name="青山镇云法庭", township="青山镇", liaison_judge_id=judge["id"]
    )
    b = await site(
        api,
        kind="village",
        name="白水镇西山村云法庭",
        township="白水镇",
        village="西山村",
        liaison_judge_id=judge_b["id"],
        officer_id=officer_b["id"],
    )
    o = officer["session"]
    residents = [party("applicant", "张三", "东山村"), party("respondent", "李四", "东山村")]
    mine = await intake(api, o, a["id"], summary="东山村相邻通行纠纷", parties=residents)
    theirs = await intake(
        api,
        officer_b["session"],
        b["id"],
        summary="西山村的纠纷（另一位法官的站点）",
        parties=[
            party("applicant", "吴一", "西山村", "白水镇"),
            party("respondent", "吴二", "西山村", "白水镇"),
        ],
    )
    late = await intake(
        api,
        o,
        a["id"],
        type="sale",
        summary="货款纠纷，纸质材料四十天前已收到",
        received_at=(datetime.now(UTC) - timedelta(days=40)).isoformat(),
        parties=[party("applicant", "钱一", "东山村"), party("respondent", "钱二", "东山村")],
    )
    return {
        **net,
        "judge_b": judge_b,
        "command": command,
        "a2": a2,
        "b": b,
        "mine": mine,
        "theirs": theirs,
        "late": late,
    }


async def mediated_and_applied(
    net: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A dispute of site A mediated: the agreement signed by both parties (in person at the
    site, attested by the officer) and the mediator, then applied for judicial confirmation by
    the officer on the parties' behalf. Returns (dispute, agreement, confirmation)."""
    api: Api = net["api"]
    o, m = net["officer"]["session"], net["mediator"]["session"]
    d = await site_a_dispute(net, "宅基地围墙越界纠纷", "赵大山", "钱小河")
    await post(api, f"/api/disputes/{d['id']}/mediator", o, {"mediator_id": net["mediator"]["id"]})
    await post(api, f"/api/disputes/{d['id']}/mediator/accept", m)
    doc = await post(
        api,
        f"/api/disputes/{d['id']}/agreements",
        m,
        {"terms": ["钱小河于2027年1月31日前拆除越界围墙。", "双方共同疏通排水沟，费用各半。"]},
        expect=201,
    )
    for p in d["parties"]:
        await post(
            api,
            f"/api/documents/{doc['id']}/signatures",
            o,
            {
                "text_sha256": doc["text_sha256"],
                "image": signature_png(),
                "party_id": p["id"],
                "attest": True,
            },
            expect=201,
        )
    signed = await post(
        api,
        f"/api/documents/{doc['id']}/signatures",
        m,
        {"text_sha256": doc["text_sha256"], "image": signature_png()},
        expect=201,
    )
    assert signed["document"]["state"] == "effective", signed
    confirmation = await post(
        api, f"/api/agreements/{doc['id']}/confirmation", o, {"attest": True}, expect=201
    )
    assert confirmation["state"] == "pending", confirmation
    return d, signed["document"], confirmation


async def sign_in(browser: Browser, api: Api, who: dict[str, Any], label: str) -> Page:
    return await desk_sign_in(browser, api, who, label, lands="/liaison")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desk(net: dict[str, Any], browser: Browser) -> Page:
    return await sign_in(browser, net["api"], net["judge"], "judge A")


async def open_tab(page: Page, tab: str) -> None:
    await refreshed(page)
    await page.click(f".tabs [data-tab='{tab}']")
    await page.wait_for_selector(f".tabs [data-tab='{tab}'][aria-selected='true']")


async def test_the_judge_sees_only_their_sites_and_their_sites_disputes(
    desk: Page, net: dict[str, Any]
) -> None:
    assert "周法官" in await desk.inner_text("#who")
    assert await desk.inner_text(".bar .brand") == "联系法官工作台"
    sites = desk.locator("#sites li")
    shown = {await sites.nth(i).get_attribute("data-site") for i in range(await sites.count())}
    assert shown == {net["a"]["id"], net["a2"]["id"]}, shown
    # Site A has no kiosk heartbeat: offline.
    a = desk.locator(f"#sites li[data-site='{net['a']['id']}']")
    assert await a.get_attribute("data-online") == "false"
    assert "离线" in await a.inner_text()
    await open_tab(desk, "all")
    listed = desk.locator("#disputes li")
    ids = {await listed.nth(i).get_attribute("data-dispute") for i in range(await listed.count())}
    assert net["mine"]["id"] in ids and net["late"]["id"] in ids, ids
    assert net["theirs"]["id"] not in ids, ids
    await screenshot(desk, "liaison-desk")


async def test_an_overdue_dispute_is_listed_as_overdue(desk: Page, net: dict[str, Any]) -> None:
    await open_tab(desk, "overdue")
    item = desk.locator(f"#disputes li[data-dispute='{net['late']['id']}']")
    await item.wait_for()
    assert "已超期" in await item.inner_text()
    assert await desk.locator(f"#disputes li[data-dispute='{net['mine']['id']}']").count() == 0
    await item.locator("button").click()
    late = desk.locator("#dispute-detail .deadlines li[data-overdue='true']")
    await late.first.wait_for()
    assert "已超期" in await late.first.inner_text()
    # The parts this dispute has none of (agreement, confirmation, filing) are left out, not
    # printed as "null".
    shown = await desk.locator("#dispute-detail").inner_text()
    assert "null" not in shown and "undefined" not in shown, shown


async def test_the_judge_confirms_an_effective_agreement_and_sees_the_ruling_and_its_pdf(
    desk: Page, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    d, doc, confirmation = await mediated_and_applied(net)
    await open_tab(desk, "confirm")
    item = desk.locator(f"#disputes li[data-dispute='{d['id']}']")
    await item.wait_for()
    assert await desk.locator(".tabs [data-count='confirm']").inner_text() == "1"
    await item.locator("button").click()
    detail = desk.locator("#dispute-detail")
    agreement = detail.locator(f".agreement[data-document='{doc['id']}']")
    await agreement.wait_for()
    # The text as signed, its hash, and each of the three signatures with its chain hash.
    assert (
        "钱小河于2027年1月31日前拆除越界围墙。"
        in await agreement.locator(".agreement-text").inner_text()
    )
    assert await agreement.locator(".text-sha256").inner_text() == doc["text_sha256"]
    signed = [e for e in doc["entries"] if e["type"] == "signature"]
    assert len(signed) == 3
    shown = agreement.locator(".signatures li .entry-hash")
    assert [await shown.nth(i).inner_text() for i in range(await shown.count())] == [
        e["hash"] for e in signed
    ]
    assert "李庭务" in await agreement.locator(".signatures").inner_text()  # the attestation
    assert "待审查" in await detail.locator(".decision").inner_text()
    await screenshot(desk, "liaison-confirmation")

    await detail.locator("[data-act='confirm']").click()
    form = detail.locator("form[data-decision='confirm']")
    assert (await form.locator("input").input_value()).startswith("经审查")
    await form.locator("button[type=submit]").click()
    decided = detail.locator(".decision[data-state='confirmed']")
    await decided.wait_for()
    assert "已确认有效" in await decided.inner_text()

    # The ruling's hash on the page is the chain's.
    status, got, _ = await api.request(
        "GET", f"/api/confirmations/{confirmation['id']}", auth=net["judge"]["session"]
    )
    assert status == 200 and got["state"] == "confirmed", got
    status, ruling, _ = await api.request(
        "GET", f"/api/documents/{got['decision_id']}", auth=net["judge"]["session"]
    )
    assert status == 200, ruling
    entry = [e for e in ruling["entries"] if e["type"] == "decision"][-1]
    await eventually(
        lambda: contains(decided.locator(".decision-hash"), entry["hash"]), "the ruling's hash"
    )
    assert await decided.locator(".ruling-sha256").inner_text() == ruling["text_sha256"]
    # Its PDF: the button opens it in a new tab, from the API's PDF.
    async with desk.context.expect_page() as opened:
        await decided.locator("[data-pdf='decision']").click()
    tab = await opened.value
    await eventually(lambda: _starts(tab, "blob:"), "the PDF's tab")
    await tab.close()
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            api.abs(got["decision_pdf_url"]),
            headers={"Authorization": f"Bearer {net['judge']['session']}"},
        ) as r,
    ):
        assert r.status == 200 and r.content_type == "application/pdf", r.headers
        assert (await r.read()).startswith(b"%PDF"), "not a PDF"
    await screenshot(desk, "liaison-confirmed")


async def test_the_judge_refuses_a_confirmation_with_a_ground_and_a_reason(
    desk: Page, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    d, _, confirmation = await mediated_and_applied(net)
    await open_tab(desk, "confirm")
    await desk.locator(f"#disputes li[data-dispute='{d['id']}'] button").click()
    detail = desk.locator("#dispute-detail")
    await detail.locator(".agreement").wait_for()
    await detail.locator("[data-act='refuse']").click()
    form = detail.locator("form[data-decision='refuse']")
    # A refusal needs its reason: an empty one is not sent.
    await form.locator("button[type=submit]").click()
    assert "请填写理由" in await form.locator(".error").inner_text()
    await form.locator("select").select_option("harms_others")
    await form.locator("input").fill("协议约定的排水沟改道占用第三人承包地")
    await form.locator("button[type=submit]").click()
    refused = detail.locator(".decision[data-state='refused']")
    await refused.wait_for()
    text = await refused.inner_text()
    assert "不予确认" in text and "损害国家利益、社会公共利益、他人合法权益" in text, text
    assert "协议约定的排水沟改道占用第三人承包地" in text
    await refused.locator(".decision-hash").wait_for()
    status, got, _ = await api.request(
        "GET", f"/api/confirmations/{confirmation['id']}", auth=net["judge"]["session"]
    )
    assert status == 200 and got["state"] == "refused" and got["ground"] == "harms_others", got


async def _starts(page: Page, prefix: str) -> bool:
    return page.url.startswith(prefix)


async def test_a_failed_mediations_filing_package_downloads_is_filed_and_heard(
    desk: Page, net: dict[str, Any], tmp_path: Path
) -> None:
    api: Api = net["api"]
    o = net["officer"]["session"]
    d = await site_a_dispute(net, "劳务费纠纷，双方各执一词", "孙一", "孙二", type="labour")
    await post(
        api,
        f"/api/disputes/{d['id']}/transitions",
        o,
        {"to": "failed", "reason": "被申请人拒绝调解"},
    )
    await open_tab(desk, "filing")
    item = desk.locator(f"#disputes li[data-dispute='{d['id']}']")
    await item.wait_for()
    await item.locator("button").click()
    detail = desk.locator("#dispute-detail")
    await detail.locator(".filing").wait_for()
    async with desk.expect_download() as got:
        await detail.locator("[data-filing='json']").click()
    saved = tmp_path / "filing.json"
    await (await got.value).save_as(saved)
    package = json.loads(saved.read_text())
    assert package["format"] == "cloudcourt.filing/1", package
    assert "被申请人拒绝调解" in json.dumps(package, ensure_ascii=False)
    await detail.locator("[data-act='file']").click()
    await detail.locator(".dispute[data-state='filed']").wait_for()
    digest = await detail.locator(".export-sha256").inner_text()
    assert len(digest) == 64, digest
    # The last rung: the filed dispute's court hearing, scheduled here.
    when = (datetime.now() + timedelta(days=14)).strftime("%Y-%m-%dT09:30")
    await detail.locator("#hearing-case").fill("（2026）浙0102民初123号")
    assert await detail.locator("#hearing-court").input_value() == "青山县人民法院"
    await detail.locator("#hearing-at").fill(when)
    await detail.locator("[data-act='schedule']").click()
    await detail.locator(".dispute[data-state='hearing_scheduled']").wait_for()
    assert "（2026）浙0102民初123号" in await detail.locator(".hearing").inner_text()
    status, linked, _ = await api.request(
        "GET", f"/api/disputes/{d['id']}/hearing", auth=net["judge"]["session"]
    )
    assert status == 200 and linked["hearing"]["case_number"] == "（2026）浙0102民初123号"
    assert linked["hearing"]["kind"] == "hearing"


async def test_the_judge_takes_a_site_dispute_up_to_guided_mediation(
    desk: Page, net: dict[str, Any]
) -> None:
    api: Api = net["api"]
    await open_tab(desk, "all")
    await desk.locator(f"#disputes li[data-dispute='{net['mine']['id']}'] button").click()
    detail = desk.locator("#dispute-detail")
    await detail.locator(f".dispute[data-dispute='{net['mine']['id']}']").wait_for()
    await detail.locator("[data-act='take-up']").click()
    await detail.locator("form.reason-form input").fill("涉及宅基地权属，由法官指导调解")
    await detail.locator("form.reason-form button[type=submit]").click()
    await detail.locator(".dispute[data-state='judge_mediation']").wait_for()
    assert "涉及宅基地权属，由法官指导调解" in await detail.locator(".events").inner_text()
    await open_tab(desk, "guide")
    await desk.locator(f"#disputes li[data-dispute='{net['mine']['id']}']").wait_for()
    status, got, _ = await api.request(
        "GET", f"/api/disputes/{net['mine']['id']}", auth=net["judge"]["session"]
    )
    assert status == 200 and got["state"] == "judge_mediation"
    assert got["judge_id"] == net["judge"]["id"]


async def test_the_desk_fits_a_laptop_and_a_tablet_both_ways(desk: Page) -> None:
    await open_tab(desk, "all")
    await desk.locator("#disputes li button").first.click()
    await desk.locator("#dispute-detail .dispute").wait_for()
    await no_sideways(desk, "liaison")


async def test_english_on_a_click(desk: Page) -> None:
    await desk.click("#lang-switch")
    await eventually(lambda: contains(desk.locator(".bar .brand"), "Liaison judge"), "English")
    assert "Overdue" in await desk.inner_text(".tabs [data-tab='overdue']")
    await no_sideways(desk, "liaison-en")
    await desk.click("#lang-switch")
    await eventually(lambda: contains(desk.locator(".bar .brand"), "联系法官"), "zh-CN")


async def test_a_command_center_account_gets_the_command_centers_desk(
    browser: Browser, net: dict[str, Any]
) -> None:
    page = await sign_in(browser, net["api"], net["command"], "command")
    assert await page.inner_text(".bar .brand") == "诉源治理指挥中心"
    sites = page.locator("#sites li")
    shown = {await sites.nth(i).get_attribute("data-site") for i in range(await sites.count())}
    assert {net["a"]["id"], net["a2"]["id"], net["b"]["id"]} <= shown, shown
    await open_tab(page, "all")
    await page.locator(f"#disputes li[data-dispute='{net['theirs']['id']}']").wait_for()
    # A cross-village dispute is the command center's to mediate: it appoints the mediator.
    api: Api = net["api"]
    cross = await intake(
        api,
        net["officer"]["session"],
        net["a"]["id"],
        summary="东山村与南岭村之间的灌溉用水纠纷",
        parties=[party("applicant", "何一", "东山村"), party("respondent", "何二", "南岭村")],
    )
    assert cross["handler"]["level"] == "command_center", cross
    await open_tab(page, "all")
    await page.locator(f"#disputes li[data-dispute='{cross['id']}'] button").click()
    detail = page.locator("#dispute-detail")
    await detail.locator(f".dispute[data-dispute='{cross['id']}']").wait_for()
    assert "指挥中心" in await detail.locator("[data-fact='dispute.handler']").inner_text()
    await detail.locator("[data-act='appoint']").click()
    await detail.locator("#appoint-pick").select_option(net["mediator"]["id"])
    await detail.locator("form.reason-form button[type=submit]").click()
    await eventually(
        lambda: contains(detail.locator("[data-fact='dispute.mediator']"), "王调解"),
        "the mediator the command center appointed",
    )
