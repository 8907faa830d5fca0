"""The online-filing export (issue 15 item 5; docs/FILING.md) against a real server: a failed
mediation's package validates against its published schema (checked here with jsonschema too)
and carries every evidence file's hash and size, its parties whole, the failure record, the
consents and the ladder history; the zip holds the files named by hash; filing moves the
dispute failed → filed; a filed dispute is given its hearing. Only the court's side has it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import zipfile
from pathlib import Path

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from signaling import filing
from tests.e2e import Api
from tests.network import account, site
from tests.sessions_network import fail, mediation_dispute, party, upload
from tests.signaling_server import free_port, start_server

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """This module's server, as conftest's but with a temporary folder (TMPDIR) of its own:
    the filing zip is built there, and a test checks that it is gone once sent."""
    data_dir = tmp_path_factory.mktemp("server")
    temp = data_dir / "tmp"
    temp.mkdir()
    env = {
        "CLOUDCOURT_ICE_LOOPBACK": "1",
        "CLOUDCOURT_ADMIN_KEY": secrets.token_urlsafe(24),
        "CLOUDCOURT_JWT_SECRET": secrets.token_urlsafe(32),
        "TMPDIR": str(temp),
    }
    srv = start_server(data_dir, free_port(), env=env)
    srv.jwt_secret = env["CLOUDCOURT_JWT_SECRET"]
    srv.temp_dir = temp
    yield srv
    srv.stop()


SCHEMA = json.loads((Path(filing.__file__).parent / "filing_schema.json").read_text())


def valid(export: dict) -> None:
    Draft202012Validator.check_schema(SCHEMA)
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft202012Validator(SCHEMA).iter_errors(export)
    ]
    assert not errors, errors


FILES = [
    ("排水沟照片.jpg", b"\xff\xd8\xff\xe0 a photo of the ditch " * 40),
    ("协议草稿.pdf", b"%PDF-1.7 the draft the parties did not sign\n" * 25),
    ("排水沟照片.jpg", b"\xff\xd8\xff\xe0 the same name, another photo " * 30),
]


async def test_the_filing_export_of_a_failed_mediation(api: Api, server):
    net = await mediation_dispute(api)
    did = net["dispute"]["id"]
    sent = await upload(api, net, FILES)
    status, session, _ = await api.request(
        "POST", f"/api/disputes/{did}/sessions", auth=net["officer"]["session"]
    )
    assert status == 201, session
    judge = net["judge"]["session"]
    # nothing to file while it is still being mediated
    status, body, _ = await api.request("GET", f"/api/disputes/{did}/filing", auth=judge)
    assert status == 409, body
    await fail(api, net, "被申请人拒绝恢复排水沟，双方分歧过大，调解不成")

    status, export, _ = await api.request("GET", f"/api/disputes/{did}/filing", auth=judge)
    assert status == 200, export
    valid(export)
    assert export["format"] == "cloudcourt.filing/1"
    assert export["dispute"]["id"] == did and export["dispute"]["state"] == "failed"
    # every evidence file, with the hash and size of the bytes that were uploaded
    assert sorted((e["sha256"], e["size"]) for e in export["evidence"]) == sorted(
        (hashlib.sha256(data).hexdigest(), len(data)) for _, data in FILES
    )
    assert {e["id"] for e in export["evidence"]} == {e["id"] for e in sent}
    # the parties whole: this is the court's own intake
    status, shown, _ = await api.request("GET", f"/api/disputes/{did}", auth=judge)
    assert status == 200, shown
    whole = {
        p["id"]: p for p in export["complaint"]["applicants"] + export["complaint"]["respondents"]
    }
    for masked in shown["parties"]:
        assert "*" in masked["id_number"] and "*" not in whole[masked["id"]]["id_number"]
        assert whole[masked["id"]]["id_number"][:6] == masked["id_number"][:6]
        assert whole[masked["id"]]["id_number"][-4:] == masked["id_number"][-4:]
    assert [p["name"] for p in export["complaint"]["applicants"]] == ["张三"]
    assert [p["name"] for p in export["complaint"]["respondents"]] == ["李四"]
    assert export["complaint"]["claims"] == net["dispute"]["summary"]
    # Art. 21: why it failed, who, when
    failure = export["failure"]
    assert failure["reason"] == "被申请人拒绝恢复排水沟，双方分歧过大，调解不成"
    assert net["mediator"]["id"] in failure["by"] and failure["from_state"] == "site_mediation"
    assert {
        (c["party_id"], c["online_mediation"], c["electronic_service"]) for c in export["consents"]
    } == {
        (p["id"], p["consents"]["online_mediation"], p["consents"]["electronic_service"])
        for p in shown["parties"]
    }
    # the ladder history: every transition, in order
    assert [e["to_state"] for e in export["history"]] == [
        e["to_state"]
        for e in (await api.request("GET", f"/api/disputes/{did}/events", auth=judge))[1]["events"]
    ]
    assert export["history"][-1]["to_state"] == "failed"
    assert [s["hearing_id"] for s in export["mediation_sessions"]] == [
        session["session"]["hearing"]["id"]
    ]

    # the zip: export.json and each file named by its hash, the bytes matching the name
    zipped = await _zip(api, f"/api/disputes/{did}/filing?format=zip", judge)
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        names = set(archive.namelist())
        inner = json.loads(archive.read("export.json"))
        valid(inner)
        assert names == {"export.json"} | {e["file"] for e in inner["evidence"]}
        for entry in inner["evidence"]:
            assert entry["file"] == f"evidence/{entry['sha256']}"
            assert hashlib.sha256(archive.read(entry["file"])).hexdigest() == entry["sha256"]

    # filing online moves it failed → filed, the event keeping the package's hash
    status, filed, _ = await api.request(
        "POST", f"/api/disputes/{did}/filing", auth=net["officer"]["session"]
    )
    assert status == 200 and filed["dispute_state"] == "filed", filed
    assert "export" not in filed  # the officer is not given the parties whole
    status, events, _ = await api.request("GET", f"/api/disputes/{did}/events", auth=judge)
    last = events["events"][-1]
    assert last["to_state"] == "filed" and last["detail"]["export_sha256"] == filed["export_sha256"]
    status, body, _ = await api.request(
        "POST", f"/api/disputes/{did}/filing", auth=net["officer"]["session"]
    )
    assert status == 409, body
    status, again, _ = await api.request("GET", f"/api/disputes/{did}/filing", auth=judge)
    assert status == 200 and again["dispute"]["state"] == "filed", again
    valid(again)

    # an evidence file altered on the server's disk: the zip is refused, not sent
    victim = server.data_dir / "evidence" / did / hashlib.sha256(FILES[1][1]).hexdigest()
    victim.write_bytes(b"not what was taken in")
    status, body, _ = await api.request("GET", f"/api/disputes/{did}/filing?format=zip", auth=judge)
    assert status == 409 and "SHA-256" in body["error"], body


async def _zip(api: Api, path: str, auth: str) -> bytes:
    """The bytes of a zip answer (Api.request reads answers as text)."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(api.abs(path), headers={"Authorization": f"Bearer {auth}"}) as r,
    ):
        assert r.status == 200, await r.text()
        assert r.headers["Content-Type"] == "application/zip", r.headers
        return await r.read()


async def test_the_zip_is_built_in_a_nameless_temporary_file_and_sent_whole(api: Api, server):
    """The zip is built off the event loop into a temporary file with no name, so nothing is
    left in TMPDIR once it is sent; each build is new, so a Range header gets the whole zip."""
    net = await mediation_dispute(api)
    did = net["dispute"]["id"]
    await upload(api, net, [("录音.bin", os.urandom(3 * 1024 * 1024))])
    await fail(api, net)
    url = api.abs(f"/api/disputes/{did}/filing?format=zip")
    auth = {"Authorization": f"Bearer {net['judge']['session']}"}
    async with aiohttp.ClientSession() as s:
        for headers in ({**auth, "Range": "bytes=0-3"}, auth):
            async with s.get(url, headers=headers) as r:
                assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
                whole = await r.read()
                assert int(r.headers["Content-Length"]) == len(whole) > 3 * 1024 * 1024
            with zipfile.ZipFile(io.BytesIO(whole)) as archive:
                assert archive.testzip() is None
                assert "export.json" in archive.namelist()
    assert [p.name for p in server.temp_dir.iterdir() if "filing" in p.name] == []


async def test_only_the_courts_side_has_the_package(api: Api):
    net = await mediation_dispute(api)
    other = await mediation_dispute(api, "B")
    did = net["dispute"]["id"]
    await fail(api, net)
    path = f"/api/disputes/{did}/filing"
    # the dispute's own officer and mediator may not read the parties whole
    for who in ("officer", "mediator"):
        status, body, _ = await api.request("GET", path, auth=net[who]["session"])
        assert status == 403, (who, body)
    # nor anyone of another site; another site's officer may not file it either
    for who in ("officer", "judge", "mediator"):
        status, body, _ = await api.request("GET", path, auth=other[who]["session"])
        assert status == 403, (who, body)
    status, body, _ = await api.request("POST", path, auth=other["officer"]["session"])
    assert status == 403, body
    status, body, _ = await api.request("GET", path, auth=None)
    assert status == 401, body
    # the mediator may not file it (the intake officer, the judge and admin may)
    status, body, _ = await api.request("POST", path, auth=net["mediator"]["session"])
    assert status == 403, body
    status, body, _ = await api.request("GET", f"{path}?format=tar", auth="admin")
    assert status == 400, body
    status, body, _ = await api.request("GET", path, auth="admin")
    assert status == 200, body


async def test_a_filed_dispute_is_given_its_hearing(api: Api):
    net = await mediation_dispute(api)
    did = net["dispute"]["id"]
    judge = net["judge"]["session"]
    hearing = {
        "case_number": "(2026)青0102民初88号",
        "court": "青山区人民法院",
        "public": True,
        "scheduled_at": "2026-12-20T09:30:00+08:00",
    }
    # not before it is filed
    status, body, _ = await api.request(
        "POST", f"/api/disputes/{did}/hearing", json={"hearing": hearing}, auth=judge
    )
    assert status == 409, body
    await fail(api, net)
    status, body, _ = await api.request("POST", f"/api/disputes/{did}/filing", auth=judge)
    assert status == 200, body
    # the officer does not schedule the court's hearing
    status, body, _ = await api.request(
        "POST",
        f"/api/disputes/{did}/hearing",
        json={"hearing": hearing},
        auth=net["officer"]["session"],
    )
    assert status == 403, body
    status, body, _ = await api.request("POST", f"/api/disputes/{did}/hearing", json={}, auth=judge)
    assert status == 400, body
    status, linked, _ = await api.request(
        "POST", f"/api/disputes/{did}/hearing", json={"hearing": hearing}, auth=judge
    )
    assert status == 201 and linked["dispute_state"] == "hearing_scheduled", linked
    h = linked["hearing"]
    assert h["kind"] == "hearing" and h["dispute_id"] == did and h["public"] is True, h
    assert h["scheduled_at"] == "2026-12-20T01:30:00+00:00" and "邻里纠纷" in h["title"], h
    status, shown, _ = await api.request("GET", f"/api/disputes/{did}/hearing", auth=judge)
    assert status == 200 and shown["hearing"]["id"] == h["id"], shown
    status, events, _ = await api.request("GET", f"/api/disputes/{did}/events", auth=judge)
    assert events["events"][-1]["detail"]["hearing_id"] == h["id"]
    # the officer sees it too
    status, shown, _ = await api.request(
        "GET", f"/api/disputes/{did}/hearing", auth=net["officer"]["session"]
    )
    assert status == 200 and shown["hearing"]["id"] == h["id"], shown


async def test_an_existing_court_hearing_is_linked_once(api: Api):
    first, second = await mediation_dispute(api), await mediation_dispute(api)
    for net in (first, second):
        await fail(api, net)
        status, body, _ = await api.request(
            "POST", f"/api/disputes/{net['dispute']['id']}/filing", auth="admin"
        )
        assert status == 200, body
    court = await api.create_hearing()
    mediation = await api.create_hearing(kind="mediation")
    path = f"/api/disputes/{first['dispute']['id']}/hearing"
    status, body, _ = await api.request(
        "POST", path, json={"hearing_id": mediation["id"]}, auth=first["judge"]["session"]
    )
    assert status == 409 and "mediation" in body["error"], body
    status, body, _ = await api.request(
        "POST", path, json={"hearing_id": "h_0000000000000000"}, auth=first["judge"]["session"]
    )
    assert status == 404, body
    status, linked, _ = await api.request(
        "POST", path, json={"hearing_id": court["id"]}, auth=first["judge"]["session"]
    )
    assert status == 201 and linked["hearing"]["dispute_id"] == first["dispute"]["id"], linked
    # held for one dispute only
    status, body, _ = await api.request(
        "POST",
        f"/api/disputes/{second['dispute']['id']}/hearing",
        json={"hearing_id": court["id"]},
        auth=second["judge"]["session"],
    )
    assert status == 409, body
    status, shown, _ = await api.request("GET", f"/api/hearings/{court['id']}")
    assert shown["dispute_id"] == first["dispute"]["id"], shown


def test_a_package_that_breaks_the_schema_is_found_out():
    """What the server checks before it sends: a hash that is no SHA-256, a missing failure."""
    export = {
        "format": "cloudcourt.filing/1",
        "generated_at": "2026-12-01T00:00:00+00:00",
        "generated_by": "admin key",
    }
    found = filing.problems(export)
    assert any("'dispute' is a required property" in p for p in found), found
    assert any("'failure' is a required property" in p for p in found), found


async def test_a_police_stations_failure_is_filed_after_judge_mediation(api: Api):
    """The police ladder: police mediation fails → judge mediation (not yet a failure); when
    that fails too, the export's failure record is the judge's, the first step in its history."""
    judge = await account(api, "judge", "派出所联系法官")
    officer = await account(api, "officer", "社区民警")
    station = await site(
        api,
        kind="police",
        name="青山派出所警法共享平台",
        liaison_judge_id=judge["id"],
        officer_id=officer["id"],
    )
    status, dispute, _ = await api.request(
        "POST",
        "/api/disputes",
        json={
            "intake_site_id": station["id"],
            "type": "traffic",
            "summary": "双方因电动车与行人碰撞的赔偿数额发生争议。",
            "parties": [party("applicant", "王五", "东村"), party("respondent", "赵六", "西村")],
        },
        auth=officer["session"],
    )
    assert status == 201 and dispute["state"] == "site_mediation", dispute
    did = dispute["id"]
    for who, reason in ((officer, "民警调解不成"), (judge, "法官指导调解后仍未达成协议")):
        status, dispute, _ = await api.request(
            "POST",
            f"/api/disputes/{did}/transitions",
            json={"to": "failed", "reason": reason},
            auth=who["session"],
        )
        assert status == 200, dispute
    assert dispute["state"] == "failed", dispute
    status, export, _ = await api.request(
        "GET", f"/api/disputes/{did}/filing", auth=judge["session"]
    )
    assert status == 200, export
    valid(export)
    assert export["failure"]["from_state"] == "judge_mediation"
    assert export["failure"]["reason"] == "法官指导调解后仍未达成协议"
    assert judge["id"] in export["failure"]["by"]
    assert export["dispute"]["intake_site"]["kind"] == "police" and export["evidence"] == []
    police_step = [e for e in export["history"] if e["to_state"] == "judge_mediation"]
    assert police_step and police_step[0]["detail"]["failed_step"] == "site_mediation"
    assert police_step[0]["reason"] == "民警调解不成"
