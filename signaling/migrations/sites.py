"""Schema step 4: sites, their devices, and the people's accounts and sessions."""

STEP = ""
