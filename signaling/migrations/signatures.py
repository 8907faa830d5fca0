"""Schema step 6: signed documents (mediation agreements, judicial confirmations) and the
hash chain of their signatures."""

STEP = ""
