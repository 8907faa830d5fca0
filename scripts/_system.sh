# shellcheck shell=bash
# Sourced by scripts/serve and scripts/test: install the Debian packages the project needs and
# that pip cannot provide. Idempotent: asks apt only for what is missing. Needs root (or sudo).
#   need_debs PACKAGE...   install those of PACKAGE... that are not installed yet
set -euo pipefail

need_debs() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "installing Debian packages: ${missing[*]}" >&2
    if ! { "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        { "${sudo[@]}" apt-get update -q >&2 &&
            "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }; }; then
        echo "could not install ${missing[*]} with apt-get; install them by hand and retry" >&2
        return 1
    fi
}

# The composite recordings and the public stream draw Chinese names and captions: a CJK font.
SERVER_DEBS=(fonts-wqy-microhei fontconfig)
