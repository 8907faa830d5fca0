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

# The browser end-to-end tests drive Debian's Chromium through Playwright (no browser download).
# tests/test_nginx_recipe.py runs Debian's nginx with docs/nginx/cloudcourt.conf (as its child).
TEST_DEBS=(chromium nginx)

# The browser clients' libraries (socket.io-client, hls.js) come from the npm registry into
# web/node_modules and are served by the server under /vendor/ (no CDN at run time).
# Idempotent: runs `npm ci` only when web/package-lock.json changed since the last install.
#   need_web_libs
need_web_libs() {
    local root web stamp want
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    web="$root/web"
    stamp="$web/node_modules/.cloudcourt-installed"
    want="$(sha256sum "$web/package-lock.json" | cut -d' ' -f1)"
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
    command -v npm >/dev/null 2>&1 || need_debs nodejs npm
    echo "installing the browser libraries into web/node_modules (npm ci)" >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
}
