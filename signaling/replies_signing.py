"""What the signing routes answer, as models (for the OpenAPI document; the handlers build
plain JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from signaling.schemas_replies import Reply


class SignerReply(Reply):
    key: str = Field(description="party:<party id> or account:<account id>")
    kind: Literal["party", "account"]
    ref: str
    name: str
    role: str = Field(description="申请人, 被申请人, 调解员, 审判员 …")
    site_id: str | None
    status: Literal["pending", "signed", "refused"]


class EntryReply(Reply):
    """One entry of the signature chain: its canonical JSON (what was hashed) and its hash."""

    seq: int
    type: Literal["document", "signature", "refusal", "withdrawal", "application", "decision"]
    at: str
    document: str
    prev: str
    hash: str


class AgreementInfo(Reply):
    dispute_id: str
    version: int
    mediator_id: str
    terms: list[str]


class DocumentReply(Reply):
    id: str
    kind: str = Field(description="agreement or confirmation (a ruling)")
    subject: str
    title: str
    text: str = Field(description="the exact text signed (UTF-8, NFC)")
    text_sha256: str
    state: Literal["open", "effective", "refused", "withdrawn"]
    signers: list[SignerReply]
    entries: list[EntryReply]
    created_at: str
    updated_at: str
    effective_at: str | None
    pdf_url: str
    agreement: AgreementInfo | None = None
    link_signer: str | None = Field(
        None, description="read with a party's signing link: that signer's key"
    )


class ActReply(Reply):
    entry: EntryReply
    document: DocumentReply
    dispute_state: str | None = Field(description="the dispute's state after the act")


class LinkReply(Reply):
    token: str = Field(description="shown once; the server keeps only its SHA-256")
    url: str
    document_id: str
    party_id: str
    expires_at: str
    link_id: str = Field(description="the link's id, named in every act made with it")


class IdentityReply(Reply):
    verified: bool
    link_id: str
    party_id: str


class AgreementList(Reply):
    agreements: list[DocumentReply]


class ConfirmationReply(Reply):
    id: str
    agreement_id: str
    dispute_id: str
    site_id: str
    state: Literal["applying", "pending", "confirmed", "refused"]
    applicants: list[str]
    applied_at: str
    hearing_id: str | None
    judge_id: str | None
    decision_id: str | None
    ground: str | None
    reason: str | None
    decided_at: str | None
    updated_at: str
    deadline: str = Field(description="the last day to apply (30 days after the agreement)")
    decision_pdf_url: str | None


class ConfirmationList(Reply):
    confirmations: list[ConfirmationReply]


class ChainReply(Reply):
    ok: bool
    entries: int
    documents: int
    head: str
    head_seq: int = Field(description="the head's entry number: record SEQ:HASH elsewhere")
    error: str | None
    problems: list[str]


class DecisionReply(Reply):
    confirmation: ConfirmationReply
    decision: DocumentReply
    dispute_state: str | None
