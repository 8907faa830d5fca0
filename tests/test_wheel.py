"""The package works installed as a wheel, not only editable from the work tree.

The wheel is built from a copy of the product's sources (offline, no build isolation), installed
into a fresh venv that borrows the project venv's site-packages for the dependencies only, and
`cloudcourt serve` from that venv must serve the pages, their static files and the vendored
browser libraries from the installed copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from signaling.pages import VENDOR_FILES
from tests.e2e import Api
from tests.signaling_server import ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("signaling", "sfu", "recorder", "livestream", "web", "benchmarks")

pytestmark = pytest.mark.timeout(600)


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp: Path) -> Path:
    """From a copy, so that the build's own files (build/, *.egg-info) stay out of the shared
    work tree. The vendored npm builds are copied as the set-up scripts install them."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", "*.pyc")
    for package in PRODUCT:
        shutil.copytree(ROOT / package, src / package, ignore=ignore)
    for rel in VENDOR_FILES.values():
        target = src / "web" / "node_modules" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "web" / "node_modules" / rel, target)
    out = tmp / "dist"
    pip = (sys.executable, "-m", "pip")
    _run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, src)
    (wheel,) = out.glob("cloudcourt-*.whl")
    return wheel


def install(tmp: Path, wheel: Path) -> Path:
    """A fresh venv with the wheel in it; the project venv's site-packages come after its own
    (a .pth line adds the directory, so the editable install's hooks there never run)."""
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(_run(python, "-c", purelib).strip())
    (site / "project-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = (sys.executable, "-m", "pip", "--python", python)
    _run(*pip, "install", "--no-deps", "--no-index", wheel)
    return venv


class InstalledServer(ServerProcess):
    """`cloudcourt serve` as the wheel installed it, run from outside the work tree."""

    def __init__(self, venv: Path, data_dir: Path) -> None:
        super().__init__(data_dir, free_port())
        self.venv = venv
        # Nothing of the work tree on the path: not the current directory, not PYTHONPATH.
        self.env.pop("PYTHONPATH", None)
        self.env["PYTHONSAFEPATH"] = "1"

    def command(self) -> list[str]:
        return [str(self.venv / "bin" / "cloudcourt"), *super().command()[3:]]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("wheel")
    venv = install(tmp, build_wheel(tmp))
    python = venv / "bin" / "python"
    where = _run(python, "-c", "import web; print(web.__file__)", cwd=tmp).strip()
    web_dir = Path(where).parent
    assert web_dir.is_relative_to(venv), f"web imported from {where}, not the installed copy"
    server = InstalledServer(venv, tmp / "data").start()
    try:
        yield server, web_dir
    finally:
        server.stop()


async def test_the_installed_wheel_serves_the_portal_join_page_and_static_files(installed):
    server, web_dir = installed
    # What the installed server sends is the installed copy, marked here so no other copy fits.
    script = next((web_dir / "static" / "js").glob("*.js"))
    marker = f"// installed copy {free_port()}\n"
    script.write_text(script.read_text() + marker)
    api = Api(server)
    status, body, _ = await api.request("GET", f"/static/js/{script.name}", auth=None)
    assert status == 200 and body.endswith(marker), (status, body[-200:])

    status, body, _ = await api.request("GET", "/portal/", auth=None)
    assert status == 200, (status, body)
    assert body == (web_dir / "portal" / "index.html").read_text()
    hearing = await api.create_hearing()
    token = await api.token(hearing["id"], "judge")
    status, join, _ = await api.request(
        "GET", f"/join/{hearing['id']}?token={token['token']}", auth=None
    )
    assert status == 200 and join == (web_dir / "static" / "join.html").read_text()
    status, player, _ = await api.request("GET", "/portal/player.html", auth=None)
    assert status == 200, (status, player)
    # Every file the pages load is in the wheel too, the vendored libraries included.
    for link in re.findall(r'(?:src|href)="(/[^"]+)"', body + join + player):
        status, _, _ = await api.request("GET", link, auth=None)
        assert status == 200, f"{link}: {status}"


async def test_the_installed_server_describes_every_metric(installed):
    server, _ = installed
    text = await Api(server).metrics()
    helps = set(re.findall(r"^# HELP (\S+) \S", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    assert types and set(types) == helps, sorted(set(types) ^ helps)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["cloudcourt_sfu_decoders_created"].type == "counter"
    assert families["cloudcourt_sockets"].type == "gauge"
    assert families["cloudcourt_http_request_duration_seconds"].type == "histogram"
