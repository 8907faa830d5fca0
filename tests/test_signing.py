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
from typing import Any

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
from signaling.signing_store import SigningStore, new_document, parse_head, verify_chain
from signaling.store import SqliteStore
from tests.e2e import Api
from tests.network import account
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
    Image.new("1", (2001, 10)).save(huge, "PNG")
    assert "at most 2000×1000 pixels" in (check_signature_image(huge.getvalue()) or "")
    tall = io.BytesIO()
    Image.new("1", (10, 1001)).save(tall, "PNG")
    assert "at most 2000×1000 pixels" in (check_signature_image(tall.getvalue()) or "")
    assert "larger than" in (check_signature_image(PNG + b"\0" * 600_000) or "")
    # A 4000×4000 claim in a small file is refused from its header, before any decoding.
    claim = io.BytesIO()
    Image.new("1", (4000, 4000)).save(claim, "PNG")
    assert len(claim.getvalue()) < 10_000
    assert "at most 2000×1000" in (check_signature_image(claim.getvalue()) or "")
    # A palette PNG whose palette was dropped decodes as solid black: all ink, no handwriting.
    solid = io.BytesIO()
    Image.new("RGBA", (300, 100), (0, 0, 0, 255)).save(solid, "PNG")
    assert "all ink" in (check_signature_image(solid.getvalue()) or "")
    paletted = _without_palette(Image.new("P", (300, 100), 0))
    assert "all ink" in (check_signature_image(paletted) or "")


def _without_palette(image: Image.Image) -> bytes:
    """A palette PNG with its PLTE chunk cut out (Pillow reads it as greyscale: black)."""
    out = io.BytesIO()
    image.save(out, "PNG")
    data, pos, kept = out.getvalue(), 8, [out.getvalue()[:8]]
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk = data[pos : pos + 12 + length]
        if chunk[4:8] != b"PLTE":
            kept.append(chunk)
        pos += 12 + length
    return b"".join(kept)


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("UPDATE signed_documents SET subject = 't:9' WHERE id = ?", "its subject is not"),
        ("UPDATE signed_documents SET title = '收据' WHERE id = ?", "its title is not"),
        ("UPDATE signed_documents SET kind = 'x' WHERE id = ?", "its kind is not"),
        (
            "UPDATE signed_documents SET signers = replace(signers, '\"甲\"', '\"乙\"')"
            " WHERE id = ?",
            "its signers are not",
        ),
        (
            "UPDATE signed_documents SET state = 'open', effective_at = NULL WHERE id = ?",
            "its state is open, its entries make it effective",
        ),
        ("UPDATE signed_documents SET effective_at = NULL WHERE id = ?", "it is effective at None"),
    ],
)
async def test_a_document_row_changed_is_named(
    chain_db: tuple[Path, str, str], sql: str, said: str
) -> None:
    """The row's kind, subject, title, signers, state and effective_at are all what the
    chain's entries make them."""
    path, first, _ = chain_db
    error = _tampered(path, sql, first)
    assert error is not None and error.startswith(f"document {first}: ") and said in error, error


async def test_a_document_row_deleted_is_named(chain_db: tuple[Path, str, str]) -> None:
    path, _, second = chain_db
    error = _tampered(path, "DELETE FROM signed_documents WHERE id = ?", second)
    assert error == (
        f"signature chain entry 4 (document of document {second}): its document row is missing"
    )


async def test_a_truncated_chain_misses_the_recorded_head(chain_db: tuple[Path, str, str]) -> None:
    """Cutting off the last entries leaves a valid shorter chain: only the head recorded
    elsewhere (the daily report) shows it."""
    path, _, second = chain_db
    conn = sqlite3.connect(path)
    head = conn.execute("SELECT seq, hash FROM signature_chain ORDER BY seq DESC").fetchone()
    report = verify_chain(conn, (head[0], head[1]))
    assert report.ok and report.head_seq == 5 and report.head == head[1], report
    assert not verify_chain(conn, (5, "f" * 64)).ok  # another chain's head
    conn.execute("DELETE FROM signature_chain WHERE seq = 5")
    conn.execute("UPDATE signed_documents SET state = 'open' WHERE id = ?", (second,))
    conn.commit()
    assert verify_chain(conn).ok  # a valid, shorter chain
    report = verify_chain(conn, (head[0], head[1]))
    conn.close()
    assert report.error == (
        f"the chain does not reach the recorded head 5:{head[1]} (it ends at entry 4: entries "
        "were cut off)"
    )
    # The head as `verify` prints it and an operator records it.
    assert parse_head(f"5:{head[1]}") == (5, head[1])
    for bad in ("5", f"x:{head[1]}", "0:" + head[1], "5:abc"):
        with pytest.raises(ValueError):
            parse_head(bad)


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
    link = await village.link(doc, applicant["id"])
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


def _verify(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "signaling",
            "verify",
            "--signatures",
            "--data-dir",
            str(data_dir),
            *extra,
        ],
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
    # The head an operator records (SEQ:HASH) is reached; a chain cut short would not reach it,
    # nor one whose head was rewritten: a head the chain never had stands for both.
    head = result.stdout.strip().rsplit("chain head ", 1)[1]
    seq, _, digest = head.partition(":")
    assert seq.isdigit() and len(digest) == 64, head
    result = await asyncio.to_thread(_verify, server.data_dir, "--expect-head", head)
    assert result.returncode == 0, result.stderr
    wrong = f"{seq}:{'0' * 64}"
    result = await asyncio.to_thread(_verify, server.data_dir, "--expect-head", wrong)
    assert result.returncode == 1 and "head" in result.stderr, (result.stdout, result.stderr)
    result = await asyncio.to_thread(_verify, server.data_dir, "--expect-head", "soon")
    assert result.returncode == 1 and "--expect-head" in result.stderr, result.stderr

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
    assert chain["head_seq"] >= entry["seq"]
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


# ---------------------------------------------------------------- the review's findings


async def test_a_link_works_only_once_its_party_proved_who_they_are(village: Village) -> None:
    """A link minted by the officer reads, signs and applies only after its party gave the
    last 6 digits of their ID number; 5 wrong answers burn it; the mediator mints none."""
    api = village.api
    dispute = await village.dispute()
    applicant, respondent = dispute["parties"]
    doc = await village.agreement(dispute)
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/links",
        json={"party_id": applicant["id"]},
        auth=village.mediator["session"],
    )
    assert status == 403 and "signer of the document" in body["error"], body

    link = await village.unconfirmed_link(doc, applicant["id"])
    token = link["token"]
    for method, path, payload in (
        ("GET", f"/api/documents/{doc['id']}", None),
        ("GET", f"/api/documents/{doc['id']}/pdf", None),
        (
            "POST",
            f"/api/documents/{doc['id']}/signatures",
            {"text_sha256": doc["text_sha256"], "image": signature_png()},
        ),
        (
            "POST",
            f"/api/documents/{doc['id']}/refusals",
            {"text_sha256": doc["text_sha256"], "reason": "不"},
        ),
        ("POST", f"/api/agreements/{doc['id']}/confirmation", {}),
    ):
        status, body, _ = await api.request(method, path, json=payload, auth=token)
        assert status == 403 and "last 6 digits" in str(body), (path, status, body)
    # The check is the party's own: not an account's, and not the digits of the other party.
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/identity",
        json={"id_last6": village.last6(applicant["id"])},
        auth=village.officer["session"],
    )
    assert status == 403, body
    status, body = await village.confirm(doc, token, "12345")
    assert status == 400, body  # malformed: not counted
    right = village.last6(applicant["id"])
    wrong = village.last6(respondent["id"])
    if wrong == right:
        wrong = f"{(int(right[:5]) + 1) % 100000:05d}{right[5]}"
    for left in (4, 3, 2, 1):
        status, body = await village.confirm(doc, token, wrong)
        assert status == 403 and f"({left} tries left)" in body["error"], body
    status, body = await village.confirm(doc, token, wrong)  # the fifth: burned
    assert status == 401 and "burned" in body["error"], body
    status, body = await village.confirm(doc, token, right)  # too late, even right
    assert status == 401, body
    status, body, _ = await api.request("GET", f"/api/documents/{doc['id']}", auth=token)
    assert status == 401, body

    # A new link, the right digits: it reads and signs, and the entry names link and sender.
    link = await village.link(doc, applicant["id"])
    status, body, _ = await api.request(
        "POST",
        f"/api/documents/{doc['id']}/signatures",
        json={"text_sha256": doc["text_sha256"], "image": signature_png()},
        auth=link["token"],
    )
    assert status == 201, body
    assert body["entry"]["actor"]["link"]["id"] == link["link_id"]
    assert body["entry"]["actor"]["link"]["minted_by"]["id"] == village.officer["id"]


async def test_an_agreement_is_signed_only_while_its_dispute_is_mediated(village: Village) -> None:
    """A dispute that failed (and was filed): its open agreement is withdrawn, with an entry,
    and no one signs it any more (409)."""
    api = village.api
    dispute = await village.dispute()
    applicant = dispute["parties"][0]
    doc = await village.agreement(dispute)
    status, body = await village.sign_in_person(doc, applicant["id"])
    assert status == 201, body
    for to, reason in (("failed", "双方分歧过大，调解不成"), ("filed", None)):
        status, body, _ = await api.request(
            "POST",
            f"/api/disputes/{dispute['id']}/transitions",
            json={"to": to, **({"reason": reason} if reason else {})},
        )
        assert status == 200 and body["state"] == to, body
    status, body = await village.sign_as_mediator(doc)
    assert status == 409 and "is filed" in body["error"] and "withdrawn" in body["error"], body
    status, seen, _ = await api.request(
        "GET", f"/api/documents/{doc['id']}", auth=village.officer["session"]
    )
    assert seen["state"] == "withdrawn", seen
    assert [e["type"] for e in seen["entries"]] == ["document", "signature", "withdrawal"]
    assert seen["entries"][-1]["detail"] == {"dispute_state": "filed"}
    status, body = await village.sign_in_person(doc, dispute["parties"][1]["id"])
    assert status == 409, body
    status, chain, _ = await api.request("GET", "/api/signatures/chain")
    assert chain["ok"], chain


async def _effective(village: Village) -> tuple[dict[str, Any], dict[str, Any]]:
    dispute = await village.dispute()
    doc = await village.agreement(dispute)
    for party in dispute["parties"]:
        status, body = await village.sign_in_person(doc, party["id"])
        assert status == 201, body
    status, body = await village.sign_as_mediator(doc)
    assert status == 201 and body["dispute_state"] == "mediated", body
    return dispute, body["document"]


async def test_confirmation_is_applied_for_and_decided_only_while_mediated(
    village: Village,
) -> None:
    api = village.api
    # Applied for by every party, then the dispute is closed by a bare move: no decision.
    dispute, doc = await _effective(village)
    status, pending, _ = await api.request(
        "POST",
        f"/api/agreements/{doc['id']}/confirmation",
        json={"attest": True},
        auth=village.officer["session"],
    )
    assert status == 201 and pending["state"] == "pending", pending
    status, body, _ = await api.request(
        "POST", f"/api/disputes/{dispute['id']}/transitions", json={"to": "closed"}
    )
    assert status == 200, body
    status, body, _ = await api.request(
        "POST",
        f"/api/confirmations/{pending['id']}/decision",
        json={"decision": "confirm", "reason": "协议合法"},
        auth=village.judge["session"],
    )
    assert status == 409 and "is closed" in body["error"], body
    # An effective agreement of a closed dispute takes no application.
    dispute, doc = await _effective(village)
    status, body, _ = await api.request(
        "POST", f"/api/disputes/{dispute['id']}/transitions", json={"to": "closed"}
    )
    assert status == 200, body
    status, body, _ = await api.request(
        "POST",
        f"/api/agreements/{doc['id']}/confirmation",
        json={"attest": True},
        auth=village.officer["session"],
    )
    assert status == 409 and "is closed" in body["error"], body


async def test_confirmations_are_listed_to_who_sees_the_dispute(village: Village) -> None:
    """Another mediator of the same site sees none of this dispute's confirmations: the
    listing follows who may see the dispute, not who has a role at its site."""
    api = village.api
    other = await account(api, "mediator", "孙调解员")
    status, body, _ = await api.request(
        "PATCH",
        f"/api/sites/{village.site['id']}",
        json={"mediator_ids": [village.mediator["id"], other["id"]]},
    )
    assert status == 200, body
    _, doc = await _effective(village)
    status, applied, _ = await api.request(
        "POST",
        f"/api/agreements/{doc['id']}/confirmation",
        json={"attest": True},
        auth=village.officer["session"],
    )
    assert status == 201, applied
    for who, sees in ((village.mediator, True), (other, False), (village.judge, True)):
        status, listed, _ = await api.request("GET", "/api/confirmations", auth=who["session"])
        assert status == 200, listed
        ids = {c["id"] for c in listed["confirmations"]}
        assert (applied["id"] in ids) is sees, (who["username"], ids)


async def test_signed_text_has_no_invisible_characters(village: Village) -> None:
    dispute = await village.dispute()
    for char in ("\u200b", "\u200e", "\u00ad", "\ufeff", "\u2060", "\u061c"):
        status, body, _ = await village.api.request(
            "POST",
            f"/api/disputes/{dispute['id']}/agreements",
            json={"terms": [f"钱小河赔偿{char}1000元。"]},
            auth=village.mediator["session"],
        )
        assert status == 400 and f"U+{ord(char):04X}" in body["error"], (char, body)
    doc = await village.agreement(dispute)
    status, body, _ = await village.api.request(
        "POST",
        f"/api/documents/{doc['id']}/refusals",
        json={"text_sha256": doc["text_sha256"], "reason": "不同\u200d意"},
        auth=village.mediator["session"],
    )
    assert status == 400 and "U+200D" in body["error"], body


def _copy(db: Path, to: Path) -> Path:
    """A consistent copy of the live database (SQLite's backup), to tamper with."""
    source, target = sqlite3.connect(db), sqlite3.connect(to)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return to


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        (
            "UPDATE agreements SET terms = replace(terms, '费用各半', '费用由赵大山承担')"
            " WHERE document_id = :agreement",
            "its terms are not the ones the chain bound",
        ),
        (
            "UPDATE confirmations SET state = 'confirmed', ground = NULL WHERE id = :confirmation",
            "is not what the chain holds (the chain: refused)",
        ),
        (
            "UPDATE confirmations SET ground = 'unclear' WHERE id = :confirmation",
            "is not what the chain holds",
        ),
        (
            "UPDATE confirmations SET applicants = '[]' WHERE id = :confirmation",
            "its applicants are not",
        ),
    ],
)
async def test_verify_binds_agreements_and_confirmations(
    village: Village, server, tmp_path: Path, sql: str, said: str
) -> None:
    api = village.api
    _, doc = await _effective(village)
    status, applied, _ = await api.request(
        "POST",
        f"/api/agreements/{doc['id']}/confirmation",
        json={"attest": True},
        auth=village.officer["session"],
    )
    assert status == 201, applied
    status, body, _ = await api.request(
        "POST",
        f"/api/confirmations/{applied['id']}/decision",
        json={"decision": "refuse", "ground": "harms_others", "reason": "损害案外人利益"},
        auth=village.judge["session"],
    )
    assert status == 201, body
    copy = _copy(server.data_dir / "cloudcourt.db", tmp_path / "copy.db")
    conn = sqlite3.connect(copy)
    try:
        assert verify_chain(conn).ok, verify_chain(conn)
        conn.execute(sql, {"agreement": doc["id"], "confirmation": applied["id"]})
        conn.commit()
        report = verify_chain(conn)
    finally:
        conn.close()
    assert report.error is not None and said in report.error, report.problems
