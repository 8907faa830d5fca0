"""Schema step 7: the kind of each hearing (a mediation session is one) and the dispute it
is held for."""

# Every hearing before this step was a court hearing; the dispute id is only set for the
# sessions and hearings a dispute has (signaling/dispute_sessions.py), so it stays NULL here.
STEP = """
ALTER TABLE hearings ADD COLUMN kind TEXT NOT NULL DEFAULT 'hearing';
ALTER TABLE hearings ADD COLUMN dispute_id TEXT;
CREATE INDEX hearings_by_dispute ON hearings(dispute_id)
"""
