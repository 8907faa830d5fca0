"""The browser clients: pages, scripts, styles and texts, served by the control plane.

This package holds files and says where they are; it imports nothing of the server (the arrows
in DESIGN.md point from `signaling` to `web`). The directories are found next to this file, so an
installed wheel serves its own copy.
"""

from __future__ import annotations

from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
PORTAL_DIR = WEB_DIR / "portal"
# Installed by the set-up scripts (npm ci); not part of the wheel.
NODE_MODULES = WEB_DIR / "node_modules"
