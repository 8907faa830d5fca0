"""Schema step 4: sites, their devices, and the people's accounts and sessions.

Lists of a site (mediators, grid members, equipment, trades) are JSON arrays in one column each:
a site has a handful of each, they are always read with the site, and nothing queries into them
from SQL (who sees which site is decided in signaling/sites.py).
"""

STEP = """
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE account_sessions (
    token_sha256 TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX account_sessions_by_account ON account_sessions(account_id);
CREATE TABLE login_failures (
    username     TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    first_at     TEXT NOT NULL,
    locked_until TEXT
);
CREATE TABLE sites (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    name             TEXT NOT NULL,
    county           TEXT NOT NULL,
    township         TEXT NOT NULL,
    village          TEXT,
    address          TEXT NOT NULL,
    liaison_judge_id TEXT REFERENCES accounts(id),
    officer_id       TEXT REFERENCES accounts(id),
    mediator_ids     TEXT NOT NULL,
    grid_members     TEXT NOT NULL,
    equipment        TEXT NOT NULL,
    trades           TEXT NOT NULL,
    retired_at       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE TABLE site_devices (
    id                TEXT PRIMARY KEY,
    site_id           TEXT NOT NULL REFERENCES sites(id),
    label             TEXT NOT NULL,
    credential_sha256 TEXT NOT NULL UNIQUE,
    enrolled_by       TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    revoked_at        TEXT,
    last_heartbeat_at TEXT,
    last_status       TEXT
);
CREATE INDEX site_devices_by_site ON site_devices(site_id)
"""
