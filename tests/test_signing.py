"""The signature chain and the refusals of signing (docs/SIGNING.md).

The chain over a real SQLite store: every kind of tampering a database row can suffer is found
and named. Over the real API of a real `cloudcourt serve`: signing the wrong text hash or twice
is 409, one not on the document 403, a bad image 400, a stranger's link 401/403; and
`cloudcourt verify --signatures` on the server's data directory passes, then exits 1 naming
the entry of a row changed behind the server's back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from signaling.signing import (
    Actor,
    DocumentState,
    EntryType,
    Signer,
    canonical,
    check_signature_image,
)
from signaling.signing_store import SigningStore, new_document, verify_chain
from signaling.store import SqliteStore
from tests.e2e import Api
from tests.signing_network import Village, signature_png

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = Actor("admin", None, "admin key")
PNG = base64.b64decode(signature_png().split(",", 1)[1])


# ---------------------------------------------------------------- the chain, on a real store


async def _chain(path: Path) -> tuple[str, str]:
    """A store with two documents: one signed by both signers, one refused. (ids)"""
    store = await SqliteStore.open(path)
    try:
        signing = SigningStore(store)
        signers = (
            Signer("party", "dp_1", "甲", "申请人"),
            Signer("account", "a_1", "丙", "调解员"),
        )
        first = new_document(
            kind="test",
            subject="t:1",
            title="协议",
            text="第一条。\n第二条。",
            signers=signers,
            actor=ADMIN,
        )
        await signing.create(first, ADMIN)
        for signer in signers:
            await signing.act(
                first.id,
                signer.key,
                EntryType.signature,
                text_hash=first.text_sha256,
                actor=ADMIN,
                png=PNG,
            )
        second = new_document(
            kind="test", subject="t:2", title="协议", text="另一份。", signers=signers, actor=ADMIN
        )
        await signing.create(second, ADMIN)
        _, refused = await signing.act(
            second.id,
            "party:dp_1",
            EntryType.refusal,
            text_hash=second.text_sha256,
            actor=ADMIN,
            reason="不同意",
        )
        assert refused.state is DocumentState.refused
        report = await signing.verify()
        assert report.ok and report.entries == 5 and report.documents == 2, report
        return first.id, second.id
    finally:
        await store.close()


def _tampered(path: Path, sql: str, *args: object) -> str | None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, args)
        conn.commit()
        return verify_chain(conn).error
    finally:
        conn.close()


@pytest_asyncio.fixture(loop_scope="module")
async def chain_db(tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "cloudcourt.db"
    first, second = await _chain(path)
    return path, first, second


async def test_an_intact_chain_verifies(chain_db: tuple[Path, str, str]) -> None:
    path, _, _ = chain_db
    conn = sqlite3.connect(path)
    report = verify_chain(conn)
    conn.close()
    assert report.ok and report.entries == 5
    rows = sqlite3.connect(path).execute("SELECT hash FROM signature_chain ORDER BY seq").fetchall()
    assert report.head == rows[-1][0]


async def test_an_entry_changed_is_named(chain_db: tuple[Path, str, str]) -> None:
    path, first, _ = chain_db
    error = _tampered(
        path, "UPDATE signature_chain SET body = replace(body, '\"甲\"', '\"乙\"') WHERE seq = 2"
    )
    assert error == (
        f"signature chain entry 2 (signature of document {first}) was altered "
        "(its hash does not match)"
    )


async def test_an_entry_rehashed_breaks_the_next_link(chain_db: tuple[Path, str, str]) -> None:
    """Changing an entry and its hash to match still breaks the link of the entry after it."""
    path, first, _ = chain_db
    conn = sqlite3.connect(path)
    body = conn.execute("SELECT body FROM signature_chain WHERE seq = 2").fetchone()[0]
    conn.close()
    entry = json.loads(body)
    entry["signer_name"] = "乙"
    forged = canonical(entry)
    error = _tampered(
        path,
        "UPDATE signature_chain SET body = ?, hash = ? WHERE seq = 2",
        forged.decode(),
        hashlib.sha256(forged).hexdigest(),
    )
    assert error == (
        f"signature chain entry 3 (signature of document {first}) does not follow entry 2 "
        "(chain broken)"
    )


async def test_a_deleted_entry_is_named(chain_db: tuple[Path, str, str]) -> None:
    path, _, _ = chain_db
    error = _tampered(path, "DELETE FROM signature_chain WHERE seq = 3")
    assert error is not None and "entry 4" in error and "entry 3 is missing" in error


async def test_a_document_text_changed_is_named(chain_db: tuple[Path, str, str]) -> None:
    path, first, _ = chain_db
    error = _tampered(
        path, "UPDATE signed_documents SET text = '第一条。\n第三条。' WHERE id = ?", first
    )
    assert error == f"document {first}: its text does not match its SHA-256"


async def test_a_text_rehashed_is_not_the_one_the_chain_bound(
    chain_db: tuple[Path, str, str],
) -> None:
    path, first, _ = chain_db
    text = "第一条。\n第三条。"
    error = _tampered(
        path,
        "UPDATE signed_documents SET text = ?, text_sha256 = ? WHERE id = ?",
        text,
        hashlib.sha256(text.encode()).hexdigest(),
        first,
    )
    assert error == f"document {first}: its SHA-256 is not the one the chain bound"


async def test_a_signature_image_swapped_is_named(chain_db: tuple[Path, str, str]) -> None:
    path, first, _ = chain_db
    other = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 255)).save(other, "PNG")
    error = _tampered(path, "UPDATE signature_images SET png = ? WHERE seq = 2", other.getvalue())
    assert error == (
        f"signature chain entry 2 (signature of document {first}): its signature image was altered"
    )


async def test_signature_images_are_checked() -> None:
    assert check_signature_image(PNG) is None
    blank = base64.b64decode(signature_png(ink=False).split(",", 1)[1])
    assert check_signature_image(blank) == "the signature image is empty (nothing was drawn)"
    assert check_signature_image(b"GIF89a....") == "the signature image is not a PNG"
    assert check_signature_image(PNG[:40]) == "the signature image is not a readable PNG"
    huge = io.BytesIO()
    Image.new("1", (5000, 10)).save(huge, "PNG")
    assert "at most 4000 pixels" in (check_signature_image(huge.getvalue()) or "")
    assert "larger than" in (check_signature_image(PNG + b"\0" * 600_000) or "")


# ---------------------------------------------------------------- the API's refusals


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def village(server) -> Village:
    return await Village(Api(server)).build()


async def test_wrong_hash_twice_and_not_a_signer(village: Village) -> None:
    api = village.api
    dispute = await village.dispute()
    applicant, respondent = dispute["parties"]
    doc = await village.agreement(dispute)
    wrong = "0" * 64
    status, body = await village.sign_in_person(doc, applicant["id"], text_sha256=wrong)
    assert status == 409 and "not the hash of the document's text" in body["error"], body

    status, body = await village.sign_in_person(doc, applicant["id"])
    assert status == 201, body
    status, body = await village.sign_in_person(doc, applicant["id"])
    assert status == 409 and "already signed" in body["error"], body

    # Not on the document: the liaison judge signing for themselves, a made-up party.
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/signatures",
        json={"text_sha256": doc["text_sha256"], "image": signature_png()},
        auth=village.judge["session"],
    )
    assert status == 403 and "not a signer" in body["error"], body
    status, body = await village.sign_in_person(doc, "dp_0000000000000000")
    assert status == 403 and "not a signer" in body["error"], body
    # A party in person needs the site's own officer, who attests.
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/signatures",
        json={
            "text_sha256": doc["text_sha256"],
            "image": signature_png(),
            "party_id": respondent["id"],
            "attest": True,
        },
        auth=village.mediator["session"],
    )
    assert status == 403, body
    status, body = await village.sign_in_person(doc, respondent["id"], attest=False)
    assert status == 400 and "attest" in body["error"], body
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/signatures",
        json={"text_sha256": doc["text_sha256"], "image": signature_png()},
    )
    assert status == 403 and "admin key signs for no one" in body["error"], body
    # Another site's officer may not even read it.
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/signatures",
        json={
            "text_sha256": doc["text_sha256"],
            "image": signature_png(),
            "party_id": respondent["id"],
            "attest": True,
        },
        auth=village.other_officer["session"],
    )
    assert status == 403, body


async def test_bad_images_and_bodies(village: Village) -> None:
    dispute = await village.dispute()
    applicant = dispute["parties"][0]
    doc = await village.agreement(dispute)
    for image, said in (
        (signature_png(ink=False), "empty"),
        ("data:image/png;base64," + base64.b64encode(b"GIF89a" + b"\0" * 30).decode(), "PNG"),
        ("not base64!", "base64"),
    ):
        status, body = await village.sign_in_person(doc, applicant["id"], image=image)
        assert status == 400 and said in body["error"], (said, body)
    status, body = await village.sign_in_person(doc, applicant["id"], text_sha256="abc")
    assert status == 400 and "text_sha256" in body["error"], body
    status, body = await village.sign_in_person(doc, applicant["id"], extra_field=1)
    assert status == 400 and "unknown field" in body["error"], body
    # Nothing was chained by any of these.
    status, seen, _ = await village.api.request(
        "GET", f"/api/documents/{doc['id']}", auth=village.officer["session"]
    )
    assert [e["type"] for e in seen["entries"]] == ["document"]


async def test_signing_links_are_bound_to_their_party_and_document(village: Village) -> None:
    api = village.api
    dispute = await village.dispute()
    applicant, respondent = dispute["parties"]
    doc = await village.agreement(dispute)
    other = await village.agreement(await village.dispute())
    status, link, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/links",
        json={"party_id": applicant["id"]},
        auth=village.officer["session"],
    )
    assert status == 201, link
    token = link["token"]
    # Another document: 403. Another party: 403. A made-up link: 401. Links mint no links.
    status, body, _ = await api.request("GET", f"/api/documents/{other['id']}", auth=token)
    assert status == 403, body
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/signatures",
        json={
            "text_sha256": doc["text_sha256"],
            "image": signature_png(),
            "party_id": respondent["id"],
        },
        auth=token,
    )
    assert status == 403 and "another party" in body["error"], body
    status, body, _ = await api.request("GET", f"/api/documents/{doc['id']}", auth="sl_" + "x" * 43)
    assert status == 401, body
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/links",
        json={"party_id": respondent["id"]},
        auth=token,
    )
    assert status == 401, body
    # A link is no account session anywhere else.
    status, body, _ = await api.request("GET", f"/api/disputes/{dispute['id']}", auth=token)
    assert status == 401, body
    # A person of another site may not mint one; a mediator's account is not a party.
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/links",
        json={"party_id": applicant["id"]},
        auth=village.other_officer["session"],
    )
    assert status == 403, body
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/links",
        json={"party_id": village.mediator["id"]},
        auth=village.officer["session"],
    )
    assert status == 400, body
    # The link signs for its party, remotely: no attestation.
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/refusals",
        json={"text_sha256": doc["text_sha256"], "reason": "我要再想想", "attest": True},
        auth=token,
    )
    assert status == 400 and "attest" in body["error"], body
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/refusals",
        json={"text_sha256": doc["text_sha256"], "reason": "我要再想想"},
        auth=token,
    )
    assert status == 201, body
    assert body["entry"]["signer"] == f"party:{applicant['id']}"
    assert body["document"]["state"] == "refused"


def _verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signaling", "verify", "--signatures", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cloudcourt_verify_catches_a_tampered_row(village: Village, server) -> None:
    dispute = await village.dispute()
    doc = await village.agreement(dispute)
    status, signed = await village.sign_in_person(doc, dispute["parties"][0]["id"])
    assert status == 201, signed
    entry = signed["entry"]

    result = await asyncio.to_thread(_verify, server.data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("signatures: ok:") and "chain head" in result.stdout

    # Someone edits the database behind the server's back: the signer's name in one entry.
    db = server.data_dir / "cloudcourt.db"
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "UPDATE signature_chain SET body = replace(body, ?, ?) WHERE seq = ?",
            ("赵大山", "赵小山", entry["seq"]),
        )
        conn.commit()
    finally:
        conn.close()
    result = await asyncio.to_thread(_verify, server.data_dir)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert (
        f"signature chain entry {entry['seq']} (signature of document {doc['id']}) was altered"
        in result.stderr
    ), result.stderr
    status, chain, _ = await village.api.request("GET", "/api/signatures/chain")
    assert status == 200 and not chain["ok"] and str(entry["seq"]) in chain["error"]
    # Put back, it verifies again (the check reads only; it changed nothing).
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "UPDATE signature_chain SET body = replace(body, ?, ?) WHERE seq = ?",
            ("赵小山", "赵大山", entry["seq"]),
        )
        conn.commit()
    finally:
        conn.close()
    result = await asyncio.to_thread(_verify, server.data_dir)
    assert result.returncode == 0, result.stderr
