"""Schema step 5: disputes, their parties, evidence and transitions, and the routing
ladder.

The handler of a dispute (who mediates it now: a site, the command center, a judge) is two
columns, because listings filter on its site. Consents and an event's detail are JSON: they are
always read whole with their row. The ladder is kept as whole versions (a rule table is edited
and read as one document; the disputes record the version and rule that routed them), never
updated in place. No foreign keys to ``sites`` or ``accounts``: a dispute keeps the ids it was
taken in with even if a site is later retired.
"""

STEP = """
CREATE TABLE disputes (
    id                    TEXT PRIMARY KEY,
    number                TEXT NOT NULL UNIQUE,
    year                  INTEGER NOT NULL,
    intake_site_id        TEXT NOT NULL,
    type                  TEXT NOT NULL,
    summary               TEXT NOT NULL,
    state                 TEXT NOT NULL,
    handler_level         TEXT NOT NULL,
    handler_site_id       TEXT,
    mediator_id           TEXT,
    mediator_status       TEXT,
    mediator_appointed_at TEXT,
    mediator_answered_at  TEXT,
    judge_id              TEXT,
    ladder_version        INTEGER NOT NULL,
    rule_id               TEXT NOT NULL,
    on_failure            TEXT NOT NULL,
    intake_by             TEXT NOT NULL,
    received_at           TEXT NOT NULL,
    mediation_ended_at    TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX disputes_by_intake_site ON disputes(intake_site_id);
CREATE INDEX disputes_by_handler_site ON disputes(handler_site_id);
CREATE INDEX disputes_by_mediator ON disputes(mediator_id);
CREATE TABLE dispute_parties (
    id                  TEXT PRIMARY KEY,
    dispute_id          TEXT NOT NULL REFERENCES disputes(id),
    position            INTEGER NOT NULL,
    side                TEXT NOT NULL,
    name                TEXT NOT NULL,
    id_number           TEXT NOT NULL,
    phone               TEXT NOT NULL,
    address             TEXT NOT NULL,
    village             TEXT NOT NULL,
    township            TEXT NOT NULL,
    consents            TEXT NOT NULL
);
CREATE INDEX dispute_parties_by_dispute ON dispute_parties(dispute_id, position);
CREATE TABLE dispute_events (
    dispute_id  TEXT NOT NULL REFERENCES disputes(id),
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT,
    detail      TEXT NOT NULL,
    PRIMARY KEY (dispute_id, seq)
);
CREATE TABLE evidence (
    id          TEXT PRIMARY KEY,
    dispute_id  TEXT NOT NULL REFERENCES disputes(id),
    filename    TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE INDEX evidence_by_dispute ON evidence(dispute_id, uploaded_at);
CREATE TABLE ladder_versions (
    version    INTEGER PRIMARY KEY,
    rules      TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    note       TEXT
)
"""
