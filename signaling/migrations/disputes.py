"""Schema step 5: disputes, their parties, evidence and transitions, and the routing
ladder."""

STEP = ""
