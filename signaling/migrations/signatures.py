"""Schema step 6: signed documents (mediation agreements, judicial confirmations) and the
hash chain of their signatures.

``signed_documents`` holds each document's exact text and its SHA-256; ``signature_chain`` is
the one append-only chain of every signing entry (a document issued, a signature, a refusal, an
application, a decision), each row the entry's canonical JSON and its hash; the handwritten
images sit beside it, keyed by the entry that binds their SHA-256. ``signing_links`` keeps only
the SHA-256 of each remote party's signing link, who minted it, whether the party proved who
they are with it (the last 6 digits of their ID number) and the wrong tries (5 burn it).
``agreements`` and ``confirmations`` say which document is which dispute's agreement (version)
and where its judicial confirmation stands.
"""

STEP = """
CREATE TABLE signed_documents (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    title        TEXT NOT NULL,
    text         TEXT NOT NULL,
    text_sha256  TEXT NOT NULL,
    signers      TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    effective_at TEXT
);
CREATE INDEX signed_documents_by_subject ON signed_documents(subject);
CREATE TABLE signature_chain (
    seq          INTEGER PRIMARY KEY,
    document_id  TEXT NOT NULL REFERENCES signed_documents(id),
    type         TEXT NOT NULL,
    body         TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX signature_chain_by_document ON signature_chain(document_id);
CREATE TABLE signature_images (
    seq          INTEGER PRIMARY KEY REFERENCES signature_chain(seq),
    png          BLOB NOT NULL
);
CREATE TABLE signing_links (
    token_sha256 TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    document_id  TEXT NOT NULL REFERENCES signed_documents(id),
    signer       TEXT NOT NULL,
    minted_by    TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    verified_at  TEXT,
    failures     INTEGER NOT NULL DEFAULT 0,
    burned_at    TEXT
);
CREATE TABLE agreements (
    document_id  TEXT PRIMARY KEY REFERENCES signed_documents(id),
    dispute_id   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    mediator_id  TEXT NOT NULL,
    terms        TEXT NOT NULL,
    UNIQUE (dispute_id, version)
);
CREATE TABLE confirmations (
    id           TEXT PRIMARY KEY,
    agreement_id TEXT NOT NULL UNIQUE REFERENCES signed_documents(id),
    dispute_id   TEXT NOT NULL,
    site_id      TEXT NOT NULL,
    state        TEXT NOT NULL,
    applicants   TEXT NOT NULL,
    applied_at   TEXT NOT NULL,
    hearing_id   TEXT,
    judge_id     TEXT,
    decision_id  TEXT REFERENCES signed_documents(id),
    ground       TEXT,
    reason       TEXT,
    decided_at   TEXT,
    updated_at   TEXT NOT NULL
)
"""
