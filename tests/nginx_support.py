"""Running Debian's nginx with ``deploy/nginx/feedsvc.conf`` on a loopback port.

Shared by ``tests/test_nginx.py``, ``tests/test_archive_http.py`` and
``bench/serve.py``: a whole ``nginx.conf``
in a private folder (pid, logs and temp paths there, no daemon) that includes
the shipped server block with its root and map pointed at an export and its
``listen`` at 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


def get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """One GET on a fresh connection: status, headers and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextmanager
def serving(nginx: str, folder: Path, export: Path, port: int) -> Iterator[int]:
    """nginx checked (``-t``), started, answering ``/feeds.opml``; stopped gracefully after."""
    command = nginx_command(nginx, folder, export, port)
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t: {checked.stderr}")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if get(port, "/feeds.opml")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("nginx did not answer within 20 s")
            time.sleep(0.05)
        yield port
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
