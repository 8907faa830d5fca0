"""Schema step 7: the kind of each hearing (a mediation session is one) and the dispute it
is held for."""

STEP = ""
