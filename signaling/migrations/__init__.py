"""The database schema, one step per version: step *i* (0-based) produces version *i* + 1.

Each domain keeps its steps in its own module, so that the schema of sites, of disputes and of
signatures is written beside nothing else; the order here is the order databases were built in
and never changes (a step once released is only ever followed, not edited).
"""

from signaling.migrations import disputes, hearing_kinds, hearings, signatures, sites

MIGRATIONS: tuple[str, ...] = (
    *hearings.STEPS,
    sites.STEP,
    disputes.STEP,
    signatures.STEP,
    hearing_kinds.STEP,
)
SCHEMA_VERSION = len(MIGRATIONS)
