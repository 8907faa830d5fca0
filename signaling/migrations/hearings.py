"""Schema steps 1–3: hearings and their participants."""

STEPS: tuple[str, ...] = (
    """
    CREATE TABLE hearings (
        id           TEXT PRIMARY KEY,
        case_number  TEXT NOT NULL,
        title        TEXT NOT NULL,
        court        TEXT NOT NULL,
        case_type    TEXT NOT NULL,
        public       INTEGER NOT NULL,
        scheduled_at TEXT NOT NULL,
        state        TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );
    CREATE TABLE participants (
        id          TEXT PRIMARY KEY,
        hearing_id  TEXT NOT NULL REFERENCES hearings(id),
        name        TEXT NOT NULL,
        role        TEXT NOT NULL,
        state       TEXT NOT NULL,
        admitted    INTEGER NOT NULL,
        revoked     INTEGER NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX participants_by_hearing ON participants(hearing_id);
    """,
    # 2: when a session started and ended (the public catalog); masked participants.
    """
    ALTER TABLE hearings ADD COLUMN started_at TEXT;
    ALTER TABLE hearings ADD COLUMN ended_at TEXT;
    UPDATE hearings SET ended_at = updated_at WHERE state = 'ended';
    ALTER TABLE participants ADD COLUMN masked INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: the site a participant takes part from (shown in the judge's lobby list).
    """
    ALTER TABLE participants ADD COLUMN site TEXT;
    """,
)
