"""Sites over the real API: registration and its rules, who sees which site (an officer of A gets
403 on B, a judge sees only their sites), what an officer may edit, masking, retiring, kiosk
devices, and the heartbeat: online after one, offline once they stop (a server of its own,
started with CLOUDCOURT_SITE_OFFLINE_AFTER=3)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from tests.e2e import Api, eventually
from tests.network import account, device, heartbeat, site, site_json
from tests.sessions_network import mediation_dispute
from tests.signaling_server import free_port, start_server

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def people(server):
    api = Api(server)
    return {
        "judge_a": await account(api, "judge", name="王法官"),
        "judge_b": await account(api, "judge", name="李法官"),
        "officer_a": await account(api, "officer", name="张庭务"),
        "officer_b": await account(api, "officer", name="赵庭务"),
        "mediator": await account(api, "mediator", name="陈调解"),
        "command": await account(api, "command", name="指挥中心"),
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two_sites(server, people):
    api = Api(server)
    a = await site(
        api,
        kind="village",
        name="青山村云法庭",
        village="青山村",
        liaison_judge_id=people["judge_a"]["id"],
        officer_id=people["officer_a"]["id"],
        mediator_ids=[people["mediator"]["id"]],
        grid_members=[{"name": "刘网格", "phone": "13812345678", "area": "一组"}],
        equipment=["摄像头", "拾音器"],
    )
    b = await site(
        api,
        kind="township",
        name="青山镇云法庭",
        liaison_judge_id=people["judge_b"]["id"],
        officer_id=people["officer_b"]["id"],
    )
    return a, b


def _ids(data) -> set[str]:
    return {s["id"] for s in data["sites"]}


async def test_each_caller_sees_their_own_sites(api: Api, people, two_sites):
    a, b = two_sites
    expect = {
        "judge_a": {a["id"]},
        "judge_b": {b["id"]},
        "officer_a": {a["id"]},
        "officer_b": {b["id"]},
        "mediator": {a["id"]},
    }
    for who, sites in expect.items():
        status, data, _ = await api.request("GET", "/api/sites", auth=people[who]["session"])
        assert status == 200 and _ids(data) == sites, (who, data)
    for auth in ("admin", people["command"]["session"]):
        status, data, _ = await api.request("GET", "/api/sites", auth=auth)
        assert status == 200 and {a["id"], b["id"]} <= _ids(data)
    # An officer of A is refused B (and may not act on it).
    status, data, _ = await api.request(
        "GET", f"/api/sites/{b['id']}", auth=people["officer_a"]["session"]
    )
    assert status == 403, data
    for method, path, body in (
        ("PATCH", f"/api/sites/{b['id']}", {"equipment": ["大屏"]}),
        ("POST", f"/api/sites/{b['id']}/devices", {"label": "一体机"}),
    ):
        status, data, _ = await api.request(
            method, path, json=body, auth=people["officer_a"]["session"]
        )
        assert status == 403, (path, data)
    status, data, _ = await api.request(
        "GET", f"/api/sites/{a['id']}", auth=people["judge_a"]["session"]
    )
    assert status == 200 and data["site"]["liaison_judge"]["name"] == "王法官"
    assert data["site"]["officer"]["name"] == "张庭务"
    assert [m["name"] for m in data["site"]["mediators"]] == ["陈调解"]


async def test_phone_numbers_of_grid_members_are_masked(api: Api, people, two_sites):
    a, _ = two_sites
    shown = await site_json(api, a["id"])
    assert shown["grid_members"] == [{"name": "刘网格", "phone": "138****5678", "area": "一组"}]
    # The officer edits the list as shown: the masked number stays the stored one.
    officer = people["officer_a"]["session"]
    members = [*shown["grid_members"], {"name": "孙网格", "phone": "139-0000-1111"}]
    status, data, _ = await api.request(
        "PATCH",
        f"/api/sites/{a['id']}",
        json={"grid_members": members, "equipment": ["摄像头", "拾音器", "大屏"]},
        auth=officer,
    )
    assert status == 200, data
    assert [g["phone"] for g in data["site"]["grid_members"]] == ["138****5678", "139****1111"]
    status, data, _ = await api.request(
        "PATCH",
        f"/api/sites/{a['id']}",
        json={"grid_members": [{"name": "孙网格", "phone": "138****5678"}]},
        auth=officer,
    )
    assert status == 400 and "masked" in data["error"]
    assert "13812345678" not in str(await site_json(api, a["id"]))


async def test_an_officer_edits_only_equipment_and_grid_members(api: Api, people, two_sites):
    a, _ = two_sites
    for who, change in (
        ("officer_a", {"name": "改名"}),
        ("officer_a", {"officer_id": people["officer_b"]["id"]}),
        ("judge_a", {"equipment": ["大屏"]}),
        ("mediator", {"equipment": ["大屏"]}),
    ):
        status, data, _ = await api.request(
            "PATCH", f"/api/sites/{a['id']}", json=change, auth=people[who]["session"]
        )
        assert status == 403, (who, change, data)


async def test_edits_at_once_each_keep_their_change(api: Api, people):
    """An officer's equipment edit and an administrator's address edit sent together: both
    stay (each writes only its own columns, not the whole site as it read it)."""
    officer = people["officer_a"]
    s = await site(api, kind="township", officer_id=officer["id"])
    for n in range(15):
        answers = await asyncio.gather(
            api.request(
                "PATCH",
                f"/api/sites/{s['id']}",
                json={"equipment": [f"设备{n}"]},
                auth=officer["session"],
            ),
            api.request("PATCH", f"/api/sites/{s['id']}", json={"address": f"青山镇{n}号"}),
        )
        assert [status for status, _, _ in answers] == [200, 200], answers
        shown = await site_json(api, s["id"])
        assert (shown["equipment"], shown["address"]) == ([f"设备{n}"], f"青山镇{n}号"), n


async def test_an_officer_removed_meanwhile_is_not_put_back_by_their_own_edit(api: Api, people):
    """The administrator removes the site officer while the officer edits the equipment: the
    officer stays removed (their edit is written only while they are still the officer, and
    never writes officer_id), and a retirement is not undone by an edit either."""
    officer = people["officer_a"]
    for n in range(8):
        s = await site(api, kind="township", officer_id=officer["id"])
        edit, removal = await asyncio.gather(
            api.request(
                "PATCH",
                f"/api/sites/{s['id']}",
                json={"equipment": ["大屏"]},
                auth=officer["session"],
            ),
            api.request("PATCH", f"/api/sites/{s['id']}", json={"officer_id": None}),
        )
        assert removal[0] == 200 and edit[0] in (200, 403), (edit, removal)
        shown = await site_json(api, s["id"])
        assert shown["officer_id"] is None, n
        assert (shown["equipment"] == ["大屏"]) == (edit[0] == 200), (n, edit, shown)
    for n in range(8):
        s = await site(api, kind="township", officer_id=officer["id"])
        edit, retired = await asyncio.gather(
            api.request(
                "PATCH",
                f"/api/sites/{s['id']}",
                json={"equipment": ["大屏"]},
                auth=officer["session"],
            ),
            api.request("POST", f"/api/sites/{s['id']}/retire"),
        )
        assert retired[0] == 200 and edit[0] in (200, 409), (edit, retired)
        status, data, _ = await api.request("GET", f"/api/sites/{s['id']}")
        assert status == 200 and data["site"]["retired"], n


async def test_registration_rules(api: Api, people):
    base = {"name": "某站点", "county": "青山区", "township": "青山镇", "address": "某地"}
    for fields, words in (
        ({"kind": "village"}, "village"),
        ({"kind": "township", "trades": ["property"]}, "association"),
        ({"kind": "association", "trades": ["cars"]}, "trades.0"),
        ({"kind": "township", "liaison_judge_id": people["officer_a"]["id"]}, "judge"),
        ({"kind": "township", "officer_id": people["judge_a"]["id"]}, "officer"),
        ({"kind": "township", "mediator_ids": ["a_0000000000000000"]}, "mediator"),
        ({"kind": "township", "officer_id": None}, "null"),
        ({"kind": "castle"}, "kind"),
        ({"kind": "township", "grid_members": [{"name": "x", "phone": "138****5678"}]}, "masked"),
    ):
        status, data, _ = await api.request("POST", "/api/sites", json={**base, **fields})
        assert status == 400 and words in data["error"], (fields, data)
    status, data, _ = await api.request(
        "POST", "/api/sites", json={**base, "kind": "township"}, auth=people["judge_a"]["session"]
    )
    assert status == 403, data
    assoc = await site(api, kind="association", name="物业纠纷调解委员会", trades=["property"])
    assert assoc["trades"] == ["property"] and assoc["kind_name"] == "部门(协会)云法庭"


async def test_a_retired_site_is_kept_and_flagged(api: Api):
    s = await site(api, kind="police", name="青山派出所警法共享平台")
    status, data, _ = await api.request("POST", f"/api/sites/{s['id']}/retire")
    assert status == 200 and data["site"]["retired"] and data["site"]["retired_at"]
    assert (await api.request("POST", f"/api/sites/{s['id']}/retire"))[0] == 409
    assert (await api.request("PATCH", f"/api/sites/{s['id']}", json={"name": "x"}))[0] == 409
    status, data, _ = await api.request("GET", "/api/sites")
    assert s["id"] not in _ids(data)
    status, data, _ = await api.request("GET", "/api/sites?include_retired=true")
    assert s["id"] in _ids(data)
    status, _, _ = await api.request(
        "POST", f"/api/sites/{s['id']}/devices", json={"label": "一体机"}
    )
    assert status == 409


async def test_the_officer_enrols_and_revokes_a_kiosk(api: Api, people, two_sites):
    a, _ = two_sites
    officer = people["officer_a"]["session"]
    enrolled = await device(api, a["id"], auth=officer)
    assert enrolled["credential"].startswith("ccd_")
    assert enrolled["kiosk_url"].endswith(f"/kiosk?credential={enrolled['credential']}")
    status, data, _ = await api.request("GET", "/api/kiosk", auth=enrolled["credential"])
    assert status == 200 and data["site"]["name"] == "青山村云法庭", data
    beat = await heartbeat(api, enrolled["credential"])
    assert beat["online"] and beat["device_id"] == enrolled["device_id"]
    shown = await site_json(api, a["id"], auth=officer)
    assert shown["online"] and shown["last_heartbeat_at"]
    [dev] = [d for d in shown["devices"] if d["id"] == enrolled["device_id"]]
    assert dev["last_status"] == {"camera": True, "microphone": True, "app_version": "test"}
    assert "credential" not in str(shown)
    status, data, _ = await api.request(
        "DELETE", f"/api/sites/{a['id']}/devices/{enrolled['device_id']}", auth=officer
    )
    assert status == 200 and data["device"]["revoked"]
    status, data, _ = await api.request(
        "POST",
        "/api/kiosk/heartbeat",
        json={"camera": True, "microphone": True},
        auth=enrolled["credential"],
    )
    assert status == 401, data
    assert not (await site_json(api, a["id"]))["online"]


@pytest.fixture(scope="module")
def quick_offline(tmp_path_factory):
    srv = start_server(
        tmp_path_factory.mktemp("offline"),
        free_port(),
        env={
            "CLOUDCOURT_ADMIN_KEY": secrets.token_urlsafe(24),
            "CLOUDCOURT_SITE_OFFLINE_AFTER": "3",
        },
    )
    yield srv
    srv.stop()


async def test_a_site_goes_offline_once_its_heartbeats_stop(quick_offline):
    api = Api(quick_offline)
    s = await site(api, kind="township")
    enrolled = await device(api, s["id"])
    assert not (await site_json(api, s["id"]))["online"]
    await heartbeat(api, enrolled["credential"])
    shown = await site_json(api, s["id"])
    assert shown["online"], shown

    async def offline() -> bool:
        return not (await site_json(api, s["id"]))["online"]

    await eventually(offline, timeout=10, what="the site shows offline 3 s after its last beat")
    status, data, _ = await api.request("GET", "/api/sites")
    assert status == 200
    assert data["offline_after_seconds"] == 3
    await heartbeat(api, enrolled["credential"])
    assert (await site_json(api, s["id"]))["online"]


async def test_the_kiosk_lists_its_sites_sessions_of_today(api: Api):
    net = await mediation_dispute(api, key="kiosk")
    enrolled = await device(api, net["site"]["id"], auth=net["officer"]["session"])
    path = f"/api/disputes/{net['dispute']['id']}/sessions"
    tomorrow = (datetime.now(UTC) + timedelta(days=1, hours=1)).isoformat()
    made = {}
    for when in ("now", tomorrow):
        body = {"kiosk": True} | ({} if when == "now" else {"scheduled_at": when})
        status, data, _ = await api.request("POST", path, json=body, auth=net["officer"]["session"])
        assert status == 201, data
        made[when] = data["session"]["hearing"]["id"]
    status, data, _ = await api.request("GET", "/api/kiosk", auth=enrolled["credential"])
    assert status == 200, data
    assert [h["id"] for h in data["today"]] == [made["now"]], data["today"]
    [today] = data["today"]
    assert today["kind"] == "mediation" and today["case_number"] == net["dispute"]["number"]
    assert "title" not in today  # the title names the parties; the kiosk is in a public room
    assert today["kiosk_seat"] is True
    # The kiosk takes a token of its own seat and joins with it; other kiosks have no seat.
    hid = made["now"]
    status, minted, _ = await api.request(
        "POST", f"/api/kiosk/hearings/{hid}/token", auth=enrolled["credential"]
    )
    assert status == 201, minted
    assert minted["join_url"].startswith(f"{api.url}/join/{hid}?token=")
    status, hearing, _ = await api.request("GET", f"/api/hearings/{hid}", auth=minted["token"])
    assert status == 200 and hearing["id"] == hid
    # Another site's kiosk sees none of it.
    other = await device(api, (await site(api, kind="township"))["id"])
    status, data, _ = await api.request("GET", "/api/kiosk", auth=other["credential"])
    assert status == 200 and data["today"] == []
    status, data, _ = await api.request(
        "POST", f"/api/kiosk/hearings/{hid}/token", auth=other["credential"]
    )
    assert status == 404, data
    # An ended session leaves the list, and its seat mints no more.
    assert (await api.request("POST", f"/api/hearings/{hid}/end"))[0] == 200
    status, data, _ = await api.request("GET", "/api/kiosk", auth=enrolled["credential"])
    assert data["today"] == []
    status, data, _ = await api.request(
        "POST", f"/api/kiosk/hearings/{hid}/token", auth=enrolled["credential"]
    )
    assert status == 409, data
