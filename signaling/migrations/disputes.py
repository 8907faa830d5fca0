"""Schema step 5: disputes, their parties, evidence and transitions, the routing ladder,
and the kind of each hearing (a mediation session is one)."""

STEP = ""
