# shellcheck shell=bash
# Sourced by scripts/test and scripts/serve: make .venv (Python >= 3.11) and install the project
# into it. Idempotent: reinstalls only when pyproject.toml changed since the last install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"   # e.g. "[test]"

find_python() {
    for py in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; import ensurepip, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    echo "need Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(find_python)"
    echo "creating $VENV with $PY" >&2
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >&2
fi

STAMP="$VENV/.cloudcourt-installed${EXTRAS}"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] ||
    ! "$VENV/bin/python" -c 'import signaling, sfu' >/dev/null 2>&1; then
    echo "installing cloudcourt${EXTRAS} into $VENV" >&2
    "$VENV/bin/python" -m pip install -q -e "$ROOT${EXTRAS}" >&2
    echo "$WANT" > "$STAMP"
fi
