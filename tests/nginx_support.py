"""Running Debian's nginx with ``deploy/nginx/feedsvc.conf`` on a loopback port.

Shared by ``tests/test_nginx.py`` and ``bench/serve.py``: a whole ``nginx.conf``
in a private folder (pid, logs and temp paths there, no daemon) that includes
the shipped server block with its root and map pointed at an export and its
``listen`` at 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx" / "feedsvc.conf"
PLACEHOLDER_ROOT = "/srv/feedsvc/export"


def find_nginx() -> str | None:
    """nginx on PATH, or where Debian puts it (``/usr/sbin`` is not on every PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin:/usr/local/sbin")


def nginx_command(nginx: str, folder: Path, export: Path, port: int) -> list[str]:
    """The command that runs nginx in the foreground from ``folder`` serving ``export``."""
    shipped = SHIPPED.read_text()
    for line in (f"root {PLACEHOLDER_ROOT};", f"include {PLACEHOLDER_ROOT}/max-age.map;"):
        if shipped.count(line) != 1:
            raise ValueError(f"{SHIPPED}: expected the line {line!r} once")
    if shipped.count("listen 80;") != 1:
        raise ValueError(f"{SHIPPED}: expected the line 'listen 80;' once")
    site = shipped.replace(PLACEHOLDER_ROOT, str(export.resolve()))
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feedsvc.conf").write_text(site)
    temp = "".join(
        f"    {name}_temp_path {folder / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the export
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    access_log off;\n"
        "    keepalive_requests 1000000;\n"
        f"{temp}"
        f"    include {folder / 'feedsvc.conf'};\n"
        "}\n"
    )
    return [nginx, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
