"""Serving cost: `feedsvc serve` (granian) against a bare Flask app under gunicorn, and nginx.

What it shows
    What one feed request costs the server. A 100-item feed is ingested through
    the real pipeline (loopback origin, ``Fetcher``, ``fetch_and_store``) into a temp
    SQLite database and published with ``Publisher.publish``, which also exports it
    as static files; then, in the same run, these servers are started on 127.0.0.1:

    * serve: ``feedsvc serve --workers 1 --threads 4`` (granian, and the scheduler
      in its parent process), with ``FEEDSVC_DATABASE_URL``, ``FEEDSVC_FEEDS_DIR``
      and ``FEEDSVC_BASE_URL`` set: the command the goal is about;
    * gunicorn: feedsvc's ``wsgi:app`` under gunicorn with the same settings
      (information: what the app costs under the previous server);
    * bare: ``bench/bare_app.py`` under gunicorn, a Flask app returning the same
      body, media type and ETag as constants and 304 to the same ``If-None-Match``
      comparison: the reference;
    * nginx: Debian's nginx with ``deploy/nginx/feedsvc.conf`` serving the static
      export: the floor (skipped when nginx is not installed).

    Both gunicorns run ``-w 1 -k gthread --threads 4`` (one worker process,
    keep-alive). Each server is loaded for ``/feeds/all.rss``: plain GETs (200,
    full body, no gzip) and GETs with ``If-None-Match: <that server's ETag>`` (304;
    nginx's ETag is its own). Loads rotate between the servers (three times each
    by default) and the run with the least CPU per request is kept, which is the
    one least disturbed by other work on the machine.

    The client is ``wrk -t1 -c8`` when wrk is installed. Without wrk the script says
    so and falls back to a small Python client (http.client, keep-alive, 8 threads)
    in a separate process: requests/s are then limited by that client, but CPU per
    request on the server stays comparable.

How to read it
    ``req/s`` is throughput as the client saw it. ``CPU us/req`` is the user+system
    CPU time of the server's processes (parent and workers, from ``/proc/<pid>/stat``)
    during the load, divided by the requests the client completed: the cost that
    decides how many cores a busy service needs, and the figure the goal is about.
    Ratios to the bare app follow; the goal is ``feedsvc serve`` at most 0.3x the
    bare Flask app under gunicorn, for 200 and for 304. Nothing fails when it is
    missed: the figures are information, measured against references of the same
    run on the same machine.

Run: ``.venv/bin/python bench/serve.py [--duration S] [--rounds N] [--client wrk|python]``
(total run time about 8 x rounds x duration + 30 s; default ~2 min).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from ipaddress import ip_network
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))

from ingest import NOW, RSS_MEDIA_TYPE, feed_path, make_document, write_catalog  # noqa: E402
from load import CONNECTIONS, PATH, Load, run_python, run_wrk  # noqa: E402

from feedsvc.fetch import AddressPolicy, Fetcher  # noqa: E402
from feedsvc.model import PublishedFeed  # noqa: E402
from feedsvc.publish import Publisher  # noqa: E402
from feedsvc.refresh import fetch_and_store  # noqa: E402
from feedsvc.store import Store  # noqa: E402
from nginx_support import find_nginx, nginx_command  # noqa: E402

ITEMS = 100
GOAL = 0.3
GUNICORN_SETTINGS = ["-w", "1", "-k", "gthread", "--threads", "4", "--keep-alive", "5"]
SERVE_SETTINGS = ["--workers", "1", "--threads", "4"]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the feed


def build_feed(folder: Path, base_url: str) -> tuple[str, PublishedFeed, Path]:
    """A 100-item feed through the real pipeline: database URL, all.rss, the export folder."""
    from servers import LoopbackServer, Reply

    document = make_document(0, ITEMS)
    database_url = f"sqlite:///{folder / 'feedsvc.sqlite3'}"
    export = folder / "export"
    routes = {feed_path(0): Reply(body=document, headers={"Content-Type": RSS_MEDIA_TYPE})}
    with LoopbackServer(routes) as origin:
        catalog = write_catalog(folder / "feeds", origin.origin, feeds=1)
        store = Store.open(database_url)
        try:
            store.upgrade()
            store.sync_sources(catalog.sources.values(), NOW)
            fetcher = Fetcher(AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),)))
            for source in catalog.sources.values():
                result = fetch_and_store(source, catalog, store, fetcher.fetch, NOW)
                if not result.ok or result.new != ITEMS:
                    raise RuntimeError(f"ingest of the benchmark feed failed: {result.line()}")
            publisher = Publisher(
                store, catalog, base_url=base_url, feed_size=ITEMS, publish_dir=export
            )
            publisher.publish(None, NOW)
            feed = next(f for f in store.load_feeds() if f.path == PATH.lstrip("/"))
        finally:
            store.close()
    return database_url, feed, export


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """One server process tree on 127.0.0.1, started and stopped by this script."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.port = port
        self.log = log
        self.stop_signal = stop_signal
        self.etag = ""
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                list(command),
                env={**os.environ, **(env or {})},
                cwd=cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self) -> http.client.HTTPResponse:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                response = get(self.port, {})
                if response.status == 200:
                    return response
            except OSError:
                pass
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name}: no feed on port {self.port}\n{tail}")

    def pids(self) -> list[int]:
        """The whole tree: a parent's or master's CPU is part of what a request costs."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children(pid)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            tree = self.pids()[1:]
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
            for pid in tree:  # normally gone with the parent; never leave one behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def gunicorn(name: str, app: str, chdir: Path, env: Mapping[str, str], log: Path) -> Server:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", app, "--chdir", str(chdir),
        "-b", f"127.0.0.1:{port}", *GUNICORN_SETTINGS, "--error-logfile", str(log),
    ]  # fmt: skip
    return Server(name, command, port, log, env)


def feedsvc_serve(env: Mapping[str, str], log: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "feedsvc", "serve", "--port", str(port), *SERVE_SETTINGS]
    return Server("serve", command, port, log, env, cwd=log.parent)


def nginx(binary: str, export: Path, folder: Path) -> Server:
    port = free_port()
    command = nginx_command(binary, folder, export, port)
    return Server("nginx", command, port, folder / "nginx.out", stop_signal=signal.SIGQUIT)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of these processes (all their threads), from /proc/<pid>/stat."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLK_TCK


def get(port: int, headers: Mapping[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", PATH, headers=dict(headers))
        response = connection.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        return response
    finally:
        connection.close()


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Measure:
    load: Load
    cpu: float  # server CPU seconds during the load

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.load.requests * 1e6 if self.load.requests else float("inf")


def measure(server: Server, kind: str, duration: float, client: str) -> Measure:
    headers = {"If-None-Match": server.etag} if kind == "304" else {}
    expect = int(kind)
    pids = server.pids()
    before = cpu_seconds(pids)
    if client == "wrk":
        load = run_wrk(server.port, headers, duration)
    else:
        load = run_python(server.port, headers, duration, expect)
    used = cpu_seconds(pids) - before
    if load.bad:
        print(f"WARNING: {server.name}: {load.bad} responses were not {expect} or failed")
    return Measure(load, used)


def check(server: Server, feed: PublishedFeed) -> None:
    """Same bytes and media type as the published feed, and a 304 for its own ETag."""
    response = server.wait_ready()
    if response.body != feed.body:  # type: ignore[attr-defined]
        raise RuntimeError(f"{server.name}: not the published feed")
    if response.getheader("Content-Type") != feed.media_type:
        raise RuntimeError(f"{server.name}: wrong media type {response.getheader('Content-Type')}")
    server.etag = response.getheader("ETag") or ""
    if get(server.port, {"If-None-Match": server.etag}).status != 304:
        raise RuntimeError(f"{server.name}: no 304 for its ETag")


def environment(client: str, nginx_binary: str | None) -> str:
    wrk = "absent"
    if shutil.which("wrk"):
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        wrk = wrk_version.split()[1] if wrk_version.split()[1:] else "present"
    nginx_version = "absent"
    if nginx_binary:
        shown = subprocess.run([nginx_binary, "-v"], capture_output=True, text=True).stderr
        nginx_version = shown.strip().rpartition("/")[2] or "present"
    return (
        f"python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"cpus {os.cpu_count()}, granian {version('granian')}, gunicorn {version('gunicorn')}, "
        f"Flask {version('flask')}, nginx {nginx_version}, wrk {wrk}; client: {client}"
    )


def choose_client(wanted: str | None) -> str:
    client = wanted or ("wrk" if shutil.which("wrk") else "python")
    if client == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed; using the Python client instead")
        return "python"
    if client == "python" and wanted is None:
        print(
            "NOTE: wrk is not installed (apt-get install wrk): falling back to a Python "
            "http.client load generator; req/s are limited by it, CPU us/req stay comparable"
        )
    return client


def start_servers(
    folder: Path, database_url: str, feed: PublishedFeed, export: Path, base_url: str
) -> list[Server]:
    settings = {
        "FEEDSVC_DATABASE_URL": database_url,
        "FEEDSVC_FEEDS_DIR": str(folder / "feeds"),
        "FEEDSVC_BASE_URL": base_url,
        "FEEDSVC_FEED_SIZE": str(ITEMS),
    }
    body_file = folder / "all.rss"
    body_file.write_bytes(feed.body)
    reference = {
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_CONTENT_TYPE": feed.media_type,
        "BENCH_ETAG": feed.etag,
    }
    servers = [
        feedsvc_serve(settings, folder / "serve.log"),
        gunicorn("gunicorn", "wsgi:app", ROOT, settings, folder / "gunicorn.log"),
        gunicorn("bare", "bare_app:app", BENCH, reference, folder / "bare.log"),
    ]
    binary = find_nginx()
    if binary is None:
        print("nginx is not installed (apt-get install nginx): no static floor in this run")
    else:
        servers.append(nginx(binary, export, folder / "nginx"))
    return servers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load (4)")
    parser.add_argument("--rounds", type=int, default=3, help="loads per server and kind (3)")
    parser.add_argument("--client", choices=("wrk", "python"), default=None)
    args = parser.parse_args(argv)
    duration = max(1.0, min(args.duration, 15.0))
    rounds = max(1, min(args.rounds, 5))
    # A SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so every server is stopped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    print("feedsvc serve benchmark")
    client = choose_client(args.client)
    print(f"environment: {environment(client, find_nginx())}")
    print(f"feedsvc serve settings: {' '.join(SERVE_SETTINGS)}")
    print(f"gunicorn settings (feedsvc and bare): {' '.join(GUNICORN_SETTINGS)}")
    servers: list[Server] = []
    kinds = ("200", "304")
    results: dict[tuple[str, str], Measure] = {}
    with tempfile.TemporaryDirectory(prefix="feedsvc-serve-") as temp:
        folder = Path(temp)
        base_url = "http://127.0.0.1:8000/"
        database_url, feed, export = build_feed(folder, base_url)
        print(f"feed: {PATH}, {ITEMS} items, {len(feed.body)} bytes, {feed.media_type}")
        try:
            servers = start_servers(folder, database_url, feed, export, base_url)
            for server in servers:
                check(server, feed)
            for kind in kinds:
                for server in servers:  # warm up: first requests build caches
                    measure(server, kind, 1.0, client)
                for number in range(rounds):
                    order = servers[number % len(servers) :] + servers[: number % len(servers)]
                    for server in order:
                        result = measure(server, kind, duration, client)
                        print(
                            f"  {kind} {server.name:8s} round {number + 1}: "
                            f"{result.load.rate:8.0f} req/s, {result.cpu_us:7.1f} us CPU/req"
                        )
                        key = (kind, server.name)
                        if key not in results or result.cpu_us < results[key].cpu_us:
                            results[key] = result
        finally:
            for server in servers:
                server.stop()
    report(results, [server.name for server in servers], kinds, rounds, duration, client)
    return 0


def report(
    results: Mapping[tuple[str, str], Measure],
    names: Sequence[str],
    kinds: Sequence[str],
    rounds: int,
    duration: float,
    client: str,
) -> None:
    print()
    print(f"best of {rounds} loads of {duration:g} s, {CONNECTIONS} connections ({client})")
    print(f"  {'':14s} {'req/s':>9s} {'CPU us/req':>11s}")
    for kind in kinds:
        for name in names:
            result = results[(kind, name)]
            print(
                f"  {kind} {name:10s} {result.load.rate:9.0f} {result.cpu_us:11.1f}"
                f"   [{result.load.requests} requests, {result.cpu:.2f} s CPU]"
            )
    print("ratios to the bare Flask app under gunicorn (CPU per request; req/s)")
    for kind in kinds:
        ref = results[(kind, "bare")]
        for name in names:
            if name == "bare":
                continue
            ours = results[(kind, name)]
            cpu_ratio = ours.cpu_us / ref.cpu_us
            label = {
                "serve": "feedsvc serve (granian)",
                "gunicorn": "feedsvc under gunicorn",
                "nginx": "nginx, static export (floor)",
            }[name]
            verdict = ""
            if name == "serve":
                verdict = f"  (goal <= {GOAL}x: {'met' if cpu_ratio <= GOAL else 'MISSED'})"
            print(
                f"  {kind}: {label:30s} CPU {cpu_ratio:5.2f}x, "
                f"req/s {ours.load.rate / ref.load.rate:5.2f}x{verdict}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
