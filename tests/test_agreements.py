"""Mediation agreements and judicial confirmation over the real API of a real `cloudcourt serve`
(docs/SIGNING.md): two parties (one in person with the officer's attestation, one by a signing
link) and the mediator sign → the agreement is effective and the dispute mediated → the officer
applies for confirmation → the liaison judge confirms → the ruling is chained, the dispute
closed, and both PDFs open with pypdf carrying the texts and the hashes. A refusal fails a
version and a new one is drafted; a judge may refuse confirmation only with a ground."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from pypdf import PdfReader

from tests.e2e import Api
from tests.signing_network import Village, signature_png

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def village(server) -> Village:
    return await Village(Api(server)).build()


def _sha256(text: str) -> str:
    return hashlib.sha256(unicodedata.normalize("NFC", text).encode()).hexdigest()


async def _pdf_text(api: Api, url: str, auth: str) -> str:
    """The PDF's text as pypdf reads it (Api.request would decode the bytes as text)."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(api.abs(url), headers={"Authorization": f"Bearer {auth}"}) as r,
    ):
        assert r.status == 200, (r.status, await r.text())
        assert r.headers["Content-Type"].startswith("application/pdf")
        data = await r.read()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _flat(text: str) -> str:
    """Text as extracted, without the line breaks the layout put in."""
    return "".join(text.split())


async def _signed_agreement(village: Village) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dispute whose agreement both parties and the mediator signed."""
    dispute = await village.dispute()
    doc = await village.agreement(dispute)
    for p in dispute["parties"]:
        status, data = await village.sign_in_person(doc, p["id"])
        assert status == 201, (status, data)
    status, data = await village.sign_as_mediator(doc)
    assert status == 201, (status, data)
    assert data["document"]["state"] == "effective"
    return dispute, data["document"]


async def test_agreement_signed_confirmed_chained_and_printed(village: Village) -> None:
    api = village.api
    dispute = await village.dispute()
    applicant, respondent = dispute["parties"]
    doc = await village.agreement(dispute)

    # The text: the template filled with the dispute, masked ID numbers and phones, the terms.
    assert doc["kind"] == "agreement" and doc["state"] == "open"
    assert doc["text_sha256"] == _sha256(doc["text"])
    assert "赵大山" in doc["text"] and "钱小河" in doc["text"]
    assert "越界围墙拆除" in doc["text"] and "二、双方共同疏通排水沟" in doc["text"]
    assert applicant["id_number"] in doc["text"] and "********" in applicant["id_number"]
    assert "138****5678" in doc["text"] and "13812345678" not in doc["text"]
    assert "第十九条" in doc["text"]
    assert [s["key"] for s in doc["signers"]] == [
        f"party:{applicant['id']}",
        f"party:{respondent['id']}",
        f"account:{village.mediator['id']}",
    ]
    assert {s["status"] for s in doc["signers"]} == {"pending"}
    assert doc["entries"][0]["type"] == "document"
    assert doc["entries"][0]["text_sha256"] == doc["text_sha256"]

    # The applicant signs in person at the site: the officer's session, the attestation.
    status, data = await village.sign_in_person(doc, applicant["id"])
    assert status == 201, (status, data)
    entry = data["entry"]
    assert entry["type"] == "signature" and entry["signer"] == f"party:{applicant['id']}"
    assert entry["text_sha256"] == doc["text_sha256"]
    assert entry["attestation"]["officer_id"] == village.officer["id"]
    assert entry["prev"] == doc["entries"][-1]["hash"]
    assert len(entry["image_sha256"]) == 64
    assert data["document"]["state"] == "open"
    assert data["dispute_state"] == "site_mediation"

    # The mediator signs the agreement: they send no party's link (they would hold every
    # signature of it).
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/links",
        json={"party_id": respondent["id"], "hours": 2},
        auth=village.mediator["session"],
    )
    assert status == 403 and "signer of the document" in body["error"], (status, body)
    # The respondent signs remotely with a link the site officer minted for them, once they
    # gave the last 6 digits of their ID number.
    link = await village.unconfirmed_link(doc, respondent["id"])
    assert link["token"].startswith("sl_") and f"document={doc['id']}#link=" in link["url"]
    status, seen, _ = await api.request("GET", f"/api/documents/{doc['id']}", auth=link["token"])
    assert status == 403 and "last 6 digits" in seen["error"], (status, seen)
    status, body = await village.confirm(doc, link["token"], village.last6(respondent["id"]))
    assert status == 200 and body["link_id"] == link["link_id"], (status, body)
    status, seen, _ = await api.request("GET", f"/api/documents/{doc['id']}", auth=link["token"])
    assert status == 200, (status, seen)
    assert seen["link_signer"] == f"party:{respondent['id']}"
    status, data, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/signatures",
        json={"text_sha256": doc["text_sha256"], "image": signature_png()},
        auth=link["token"],
    )
    assert status == 201, (status, data)
    assert data["entry"]["actor"]["kind"] == "link" and data["entry"]["attestation"] is None
    # Who sent the link is on the record of the signature made with it.
    assert data["entry"]["actor"]["link"] == {
        "id": link["link_id"],
        "minted_by": {
            "kind": "account",
            "id": village.officer["id"],
            "name": "青山村庭务主任",
        },
        "identity": "id_last6",
    }

    # The mediator signs last: effective at that signature, the dispute mediated.
    status, data = await village.sign_as_mediator(doc)
    assert status == 201, (status, data)
    signed = data["document"]
    assert signed["state"] == "effective"
    assert signed["effective_at"] == data["entry"]["at"]
    assert data["dispute_state"] == "mediated"
    status, events, _ = await api.request(
        "GET", f"/api/disputes/{dispute['id']}/events", auth=village.officer["session"]
    )
    assert status == 200
    moved = [e for e in events["events"] if e["to_state"] == "mediated"]
    assert moved and moved[-1]["detail"]["agreement"] == doc["id"]
    assert moved[-1]["detail"]["entry_hash"] == data["entry"]["hash"]

    # The officer applies for confirmation on both parties' behalf, attesting.
    status, confirmation, _ = await api.request(
        "POST",
        f"/api/agreements/{doc['id']}/confirmation",
        json={"attest": True},
        auth=village.officer["session"],
    )
    assert status == 201, (status, confirmation)
    assert confirmation["state"] == "pending"
    assert confirmation["applicants"] == [applicant["id"], respondent["id"]]

    # The liaison judge sees it among their confirmations; another site's judge does not and
    # may not decide it.
    status, listing, _ = await api.request(
        "GET", "/api/confirmations?state=pending", auth=village.judge["session"]
    )
    assert status == 200 and confirmation["id"] in [c["id"] for c in listing["confirmations"]]
    status, listing, _ = await api.request(
        "GET", "/api/confirmations", auth=village.other_judge["session"]
    )
    assert status == 200 and confirmation["id"] not in [c["id"] for c in listing["confirmations"]]
    decision = {"decision": "confirm", "reason": "协议内容明确，系双方自愿达成。"}
    status, body, _ = await api.request(
        "POST",
        f"/api/confirmations/{confirmation['id']}/decision",
        json=decision,
        auth=village.other_judge["session"],
    )
    assert status == 403, (status, body)
    status, body, _ = await api.request(
        "POST", f"/api/confirmations/{confirmation['id']}/decision", json=decision
    )
    assert status == 403, (status, body)  # the admin key decides nothing judicial

    # The liaison judge confirms: the ruling is a document of its own, decided in the chain.
    status, decided, _ = await api.request(
        "POST",
        f"/api/confirmations/{confirmation['id']}/decision",
        json=decision,
        auth=village.judge["session"],
    )
    assert status == 201, (status, decided)
    assert decided["confirmation"]["state"] == "confirmed"
    assert decided["dispute_state"] == "closed"
    ruling = decided["decision"]
    assert ruling["kind"] == "confirmation" and ruling["state"] == "effective"
    assert ruling["text_sha256"] == _sha256(ruling["text"])
    assert "民事裁定书" == ruling["title"] and "青山县人民法院" in ruling["text"]
    assert "调解协议有效" in ruling["text"] and doc["text_sha256"] in ruling["text"]
    issued, decision_entry = ruling["entries"]
    assert decision_entry["type"] == "decision" and decision_entry["prev"] == issued["hash"]
    assert decision_entry["detail"]["decision"] == "confirm"
    assert decision_entry["detail"]["agreement_sha256"] == doc["text_sha256"]
    assert decision_entry["signer"] == f"account:{village.judge['id']}"

    # Decided once.
    status, body, _ = await api.request(
        "POST",
        f"/api/confirmations/{confirmation['id']}/decision",
        json=decision,
        auth=village.judge["session"],
    )
    assert status == 409, (status, body)

    # The whole chain verifies; the ruling's decision is its head (nothing came after it here
    # unless another test of this module ran at the same time, which they do not).
    status, chain, _ = await api.request("GET", "/api/signatures/chain")
    assert status == 200 and chain["ok"], chain
    assert chain["head"] == decision_entry["hash"]

    # The PDFs open and carry the texts and the hashes.
    text = _flat(await _pdf_text(api, ruling["pdf_url"], village.judge["session"]))
    assert "民事裁定书" in text and "调解协议有效" in text
    assert ruling["text_sha256"] in text and decision_entry["hash"] in text
    assert doc["text_sha256"] in text
    text = _flat(await _pdf_text(api, signed["pdf_url"], village.officer["session"]))
    assert "调解协议书" in text and "赵大山" in text and signed["text_sha256"] in text
    for entry in signed["entries"]:
        assert entry["hash"] in text
    assert "见证" in text  # the officer's attestation is printed
    # The remote signature says whose link it came through.
    assert "经青山村庭务主任发送的签署链接远程签署" in text and link["link_id"] in text


async def test_a_refusal_fails_the_version_and_a_new_one_is_drafted(village: Village) -> None:
    api = village.api
    dispute = await village.dispute()
    applicant, respondent = dispute["parties"]
    first = await village.agreement(dispute)
    status, data, _ = await api.request(
        "POST",
        f"/api/documents/{first['id']}/refusals",
        json={
            "text_sha256": first["text_sha256"],
            "reason": "拆除期限太短",
            "party_id": respondent["id"],
            "attest": True,
        },
        auth=village.officer["session"],
    )
    assert status == 201, (status, data)
    assert data["entry"]["type"] == "refusal" and data["entry"]["reason"] == "拆除期限太短"
    assert data["document"]["state"] == "refused"
    assert data["dispute_state"] == "site_mediation"
    # A refused version takes no more signatures.
    status, body = await village.sign_in_person(first, applicant["id"])
    assert status == 409, (status, body)

    second = await village.agreement(dispute, performance="钱小河于2027年3月31日前拆除。")
    assert second["agreement"]["version"] == 2 and second["id"] != first["id"]
    assert "第2版" in second["text"] and "2027年3月31日" in second["text"]
    # A third draft withdraws the second while it is open (chained).
    third = await village.agreement(dispute)
    status, versions, _ = await api.request(
        "GET", f"/api/disputes/{dispute['id']}/agreements", auth=village.mediator["session"]
    )
    assert status == 200
    states = [(a["agreement"]["version"], a["state"]) for a in versions["agreements"]]
    assert states == [(1, "refused"), (2, "withdrawn"), (3, "open")]
    withdrawn = versions["agreements"][1]
    assert withdrawn["entries"][-1]["type"] == "withdrawal"
    assert withdrawn["entries"][-1]["detail"]["superseded_by"] == third["id"]


async def test_confirmation_refused_with_a_ground_keeps_the_dispute_mediated(
    village: Village,
) -> None:
    api = village.api
    dispute, signed = await _signed_agreement(village)
    applicant, respondent = dispute["parties"]

    # Each party applies with its own link: applying, then pending once both have.
    links = {}
    for p in (applicant, respondent):
        status, link, _ = await api.request(
            "POST",
            f"/api/documents/{signed['id']}/links",
            json={"party_id": p["id"]},
            auth=village.officer["session"],
        )
        # The agreement is no longer open for signing: no new signing links.
        assert status == 409, (status, link)
    dispute2 = await village.dispute()
    # The mediation session the judge later reviews in: a hearing of this dispute.
    status, session, _ = await api.request(
        "POST",
        f"/api/disputes/{dispute2['id']}/sessions",
        json={},
        auth=village.mediator["session"],
    )
    assert status == 201, (status, session)
    hearing = session["session"]["hearing"]
    doc = await village.agreement(dispute2)
    p1, p2 = dispute2["parties"]
    for p in (p1, p2):
        link = await village.link(doc, p["id"])
        links[p["id"]] = link["token"]
        status, data, _ = await api.request(
            "POST",
            f"/api/documents/{doc['id']}/signatures",
            json={"text_sha256": doc["text_sha256"], "image": signature_png()},
            auth=link["token"],
        )
        assert status == 201, (status, data)
    status, data = await village.sign_as_mediator(doc)
    assert status == 201 and data["document"]["state"] == "effective"

    status, first, _ = await api.request(
        "POST", f"/api/agreements/{doc['id']}/confirmation", json={}, auth=links[p1["id"]]
    )
    assert status == 201, (status, first)
    assert first["state"] == "applying" and first["applicants"] == [p1["id"]]
    status, again, _ = await api.request(
        "POST", f"/api/agreements/{doc['id']}/confirmation", json={}, auth=links[p1["id"]]
    )
    assert status == 409, (status, again)
    status, body, _ = await api.request(
        "POST",
        f"/api/confirmations/{first['id']}/decision",
        json={"decision": "confirm", "reason": "尚未全部申请"},
        auth=village.judge["session"],
    )
    assert status == 409, (status, body)  # not every party has applied
    status, both, _ = await api.request(
        "POST", f"/api/agreements/{doc['id']}/confirmation", json={}, auth=links[p2["id"]]
    )
    assert status == 201 and both["state"] == "pending", (status, both)

    # The judge reviews in a video session: its hearing is recorded (and must exist).
    status, body, _ = await api.request(
        "POST",
        f"/api/confirmations/{both['id']}/review",
        json={"hearing_id": "h_0000000000000000"},
        auth=village.judge["session"],
    )
    assert status == 404, (status, body)
    # A hearing of no dispute (or of another) is not this review's session.
    stranger = await api.create_hearing(title="另一庭审")
    for path in ("review", "decision"):
        status, body, _ = await api.request(
            "POST",
            f"/api/confirmations/{both['id']}/{path}",
            json={"hearing_id": stranger["id"]}
            if path == "review"
            else {"decision": "confirm", "reason": "合法", "hearing_id": stranger["id"]},
            auth=village.judge["session"],
        )
        assert status == 400 and "not a session of dispute" in body["error"], (path, body)
    status, body, _ = await api.request(
        "POST",
        f"/api/confirmations/{both['id']}/review",
        json={"hearing_id": hearing["id"]},
        auth=village.officer["session"],
    )
    assert status == 403, (status, body)
    status, reviewed, _ = await api.request(
        "POST",
        f"/api/confirmations/{both['id']}/review",
        json={"hearing_id": hearing["id"]},
        auth=village.judge["session"],
    )
    assert status == 200 and reviewed["hearing_id"] == hearing["id"], (status, reviewed)
    status, listed, _ = await api.request(
        "GET", f"/api/confirmations?dispute_id={dispute2['id']}", auth=village.judge["session"]
    )
    assert status == 200 and [c["id"] for c in listed["confirmations"]] == [both["id"]]

    # A refusal needs its ground (民诉法解释 Art. 358); a confirmation takes none.
    url = f"/api/confirmations/{both['id']}/decision"
    status, body, _ = await api.request(
        "POST", url, json={"decision": "refuse", "reason": "x"}, auth=village.judge["session"]
    )
    assert status == 400 and "ground" in body["error"], (status, body)
    status, body, _ = await api.request(
        "POST",
        url,
        json={"decision": "confirm", "reason": "x", "ground": "unclear"},
        auth=village.judge["session"],
    )
    assert status == 400 and "ground" in body["error"], (status, body)
    status, decided, _ = await api.request(
        "POST",
        url,
        json={"decision": "refuse", "ground": "unclear", "reason": "排水沟费用的分担方式不明确"},
        auth=village.judge["session"],
    )
    assert status == 201, (status, decided)
    assert decided["confirmation"]["state"] == "refused"
    assert decided["confirmation"]["ground"] == "unclear"
    assert decided["dispute_state"] == "mediated"
    ruling = decided["decision"]
    assert "驳回申请人的司法确认申请" in ruling["text"] and "内容不明确" in ruling["text"]
    assert f"视频审查，庭审编号 {hearing['id']}" in ruling["text"]
    assert ruling["entries"][-1]["detail"]["hearing_id"] == hearing["id"]
    assert ruling["entries"][-1]["detail"]["decision"] == "refuse"
    status, got, _ = await api.request(
        "GET", f"/api/confirmations/{both['id']}", auth=village.officer["session"]
    )
    assert status == 200 and got["decision_pdf_url"] == ruling["pdf_url"]


async def test_who_may_draft_and_apply(village: Village) -> None:
    api = village.api
    dispute = await village.dispute()
    terms = {"terms": ["甲方赔偿乙方500元。"]}
    url = f"/api/disputes/{dispute['id']}/agreements"
    for who in (village.officer, village.judge):
        status, body, _ = await api.request("POST", url, json=terms, auth=who["session"])
        assert status == 403, (who["name"], status, body)
    status, body, _ = await api.request(
        "POST", url, json=terms, auth=village.other_officer["session"]
    )
    assert status == 403, (status, body)
    status, body, _ = await api.request(
        "POST", url, json={"terms": []}, auth=village.mediator["session"]
    )
    assert status == 400, (status, body)
    status, body, _ = await api.request(
        "POST", url, json={"terms": ["第一行\n第二行"]}, auth=village.mediator["session"]
    )
    assert status == 400, (status, body)
    doc = await village.agreement(dispute)
    # Not effective yet: no application.
    status, body, _ = await api.request(
        "POST",
        f"/api/agreements/{doc['id']}/confirmation",
        json={"attest": True},
        auth=village.officer["session"],
    )
    assert status == 409, (status, body)
    # Another site's officer can neither read the agreement nor apply.
    status, body, _ = await api.request(
        "GET", f"/api/documents/{doc['id']}", auth=village.other_officer["session"]
    )
    assert status == 403, (status, body)


async def test_confirmation_is_applied_for_within_30_days(village: Village, server) -> None:
    """民事诉讼法 Art. 205: an application more than 30 days after the agreement took effect is
    refused (the agreement's effective time set back in the database stands for the wait)."""
    _, signed = await _signed_agreement(village)
    past = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    conn = sqlite3.connect(server.data_dir / "cloudcourt.db")
    try:
        conn.execute(
            "UPDATE signed_documents SET effective_at = ? WHERE id = ?", (past, signed["id"])
        )
        conn.commit()
    finally:
        conn.close()
    status, body, _ = await village.api.request(
        "POST",
        f"/api/agreements/{signed['id']}/confirmation",
        json={"attest": True},
        auth=village.officer["session"],
    )
    assert status == 409 and "30 days" in body["error"], (status, body)
