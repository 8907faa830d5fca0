"""A signed document as a PDF: its text, each signer with their handwritten signature, time and
attestation (or refusal and reason), the text's SHA-256 and every chain entry's hash.

reportlab draws it in the server's CJK font (the one the live captions use,
``livestream.layout.cjk_font``); the hashes are in Courier so that each is one line a reader
can compare character by character. What is printed is what the chain holds: nothing on the
page is taken from elsewhere than the document and its entries.
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from livestream.layout import cjk_font
from signaling.signing import Document, Entry, EntryType

FONT = "CourtCJK"
_TYPE_WORDS = {
    EntryType.document: "出具 issued",
    EntryType.signature: "签名 signed",
    EntryType.refusal: "拒签 refused",
    EntryType.withdrawal: "撤回 withdrawn",
    EntryType.application: "申请 applied",
    EntryType.decision: "决定 decided",
}


@cache
def _font() -> str:
    # WenQuanYi Micro Hei is a .ttc: its first face is the regular one.
    pdfmetrics.registerFont(TTFont(FONT, str(cjk_font()), subfontIndex=0))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    base = ParagraphStyle("body", fontName=font, fontSize=11, leading=17, wordWrap="CJK")
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontSize=18, leading=26, alignment=1, spaceAfter=4 * mm
        ),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=12),
        "heading": ParagraphStyle(
            "heading", parent=base, fontSize=12.5, leading=18, spaceBefore=5 * mm, spaceAfter=2 * mm
        ),
        "hash": ParagraphStyle("hash", fontName="Courier", fontSize=7, leading=9.5),
    }


def _paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text) if text else "&nbsp;", style)


def render(
    document: Document,
    entries: list[Entry],
    images: dict[int, bytes],
    chain_head: tuple[int, str],
) -> bytes:
    """The PDF's bytes (run it off the event loop: it takes tens of milliseconds)."""
    st = _styles()
    story: list[Flowable] = [_paragraph(document.title, st["title"])]
    story.append(
        _paragraph(
            f"文书编号 Document {document.id}  ·  出具 Issued {document.created_at}", st["small"]
        )
    )
    story.append(Spacer(1, 3 * mm))
    for line in document.text.split("\n"):
        story.append(_paragraph(line, st["body"]))

    story.append(_paragraph("签名 Signatures", st["heading"]))
    acts = {
        e.signer: e
        for e in entries
        if e.type in (EntryType.signature, EntryType.refusal, EntryType.decision)
    }
    # Who the signers are, as the chain's document entry bound them (the row's copy could be
    # edited; `cloudcourt verify` checks it against this).
    issued = next((e for e in entries if e.type is EntryType.document), None)
    bound = issued.body.get("signers") if issued is not None else None
    signers = (
        [(str(s["key"]), str(s["name"]), str(s["role"])) for s in bound if isinstance(s, dict)]
        if isinstance(bound, list)
        else [(s.key, s.name, s.role) for s in document.signers]
    )
    for key, name, role in signers:
        story.append(KeepTogether(_signer_block(key, name, role, acts, images, st)))

    story.append(_paragraph("完整性 Integrity", st["heading"]))
    story.append(_paragraph("文本 SHA-256 of the text (UTF-8, NFC):", st["small"]))
    story.append(_paragraph(document.text_sha256, st["hash"]))
    story.append(Spacer(1, 2 * mm))
    story.append(
        _paragraph("本文书在签名链中的条目 Its entries in the signature chain:", st["small"])
    )
    for entry in entries:
        story.append(_paragraph(f"#{entry.seq} {entry.type.value} {entry.at}", st["hash"]))
        if entry.type is EntryType.application:
            story.append(_paragraph(f"申请 Applied: {_via(entry.body)}", st["small"]))
        story.append(_paragraph(entry.hash, st["hash"]))
    count, head = chain_head
    story.append(Spacer(1, 2 * mm))
    story.append(
        _paragraph(f"打印时签名链头 Chain head when printed (entry {count}):", st["small"])
    )
    story.append(_paragraph(head, st["hash"]))
    story.append(
        _paragraph(
            "核验：cloudcourt verify --signatures 重新计算每个条目的哈希与链接。"
            "Verify: cloudcourt verify --signatures recomputes every entry's hash and link.",
            st["small"],
        )
    )

    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=document.title,
        author="Cloud Court 云法庭",
        subject=f"{document.kind} {document.id} sha256 {document.text_sha256}",
    ).build(story)
    return out.getvalue()


def _via(body: dict[str, Any]) -> str:
    """Who performed the act: an account, the admin key, or a party's signing link — then who
    sent that link, for the delivery of a link is the sender's act and on the record."""
    actor = body.get("actor") or {}
    kind = str(actor.get("kind"))
    if kind == "link":
        link = actor.get("link") or {}
        sender = (link.get("minted_by") or {}).get("name", "?")
        return (
            f"{actor.get('name', '')} 经 {sender} 发送的签署链接远程签署"
            f"（链接 {link.get('id', '?')}，身份核验：身份证号后六位）"
            f" signed remotely through a signing link sent by {sender}"
        )
    channel = {"account": "账号 account", "admin": "管理员 admin"}
    return f"{channel.get(kind, kind)} {actor.get('name', '')}"


def _signer_block(
    key: str,
    name: str,
    role: str,
    acts: dict[str | None, Entry],
    images: dict[int, bytes],
    st: dict[str, ParagraphStyle],
) -> list[Flowable]:
    entry = acts.get(key)
    lines = [_paragraph(f"{role}：{name}", st["body"])]
    if entry is None:
        lines.append(_paragraph("尚未签名 Not yet signed", st["small"]))
        return [Table([[lines, ""]], colWidths=[95 * mm, 75 * mm]), Spacer(1, 2 * mm)]
    body = entry.body
    lines.append(_paragraph(f"{_TYPE_WORDS[entry.type]}  {entry.at}", st["small"]))
    lines.append(_paragraph(f"经由 Via: {_via(body)}", st["small"]))
    if (attestation := body.get("attestation")) is not None:
        lines.append(
            _paragraph(
                f"见证 Attested by {attestation['officer_name']}：{attestation['statement']}",
                st["small"],
            )
        )
    if (reason := body.get("reason")) is not None:
        lines.append(_paragraph(f"理由 Reason：{reason}", st["small"]))
    if (image_hash := body.get("image_sha256")) is not None:
        lines.append(_paragraph(f"image sha256 {image_hash}", st["hash"]))
    lines.append(_paragraph(f"entry #{entry.seq} {entry.hash}", st["hash"]))
    picture: Flowable | str = ""
    if (png := images.get(entry.seq)) is not None:
        picture = Image(io.BytesIO(png), width=60 * mm, height=24 * mm, kind="proportional")
    table = Table([[lines, picture]], colWidths=[105 * mm, 65 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.grey),
            ]
        )
    )
    return [table, Spacer(1, 2 * mm)]
