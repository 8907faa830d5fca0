"""Schema step 7: the kind of each hearing (a mediation session is one), the dispute it is
held for, and the seats of a dispute's sessions (whom each participant of one stands for)."""

# Every hearing before this step was a court hearing; the dispute id is only set for the
# sessions and hearings a dispute has (signaling/dispute_sessions.py), so it stays NULL here.
# A seat ties a participant of a mediation session to the mediator's or judge's account, to a
# party of the dispute, or to the intake site's kiosk: tokens are minted for a seat only to
# the one it is for (the account itself; a party's and the kiosk's to whoever runs the session).
STEP = """
ALTER TABLE hearings ADD COLUMN kind TEXT NOT NULL DEFAULT 'hearing';
ALTER TABLE hearings ADD COLUMN dispute_id TEXT;
CREATE INDEX hearings_by_dispute ON hearings(dispute_id);
CREATE TABLE session_seats (
    participant_id TEXT PRIMARY KEY REFERENCES participants(id),
    hearing_id     TEXT NOT NULL REFERENCES hearings(id),
    dispute_id     TEXT NOT NULL,
    seat           TEXT NOT NULL,
    account_id     TEXT,
    party_id       TEXT,
    site_id        TEXT,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX session_seats_by_hearing ON session_seats(hearing_id)
"""
