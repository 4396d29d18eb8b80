"""Serving cost: feedsvc under gunicorn against a bare Flask app serving the same bytes.

What it shows
    What one feed request costs the server in feedsvc compared with the cheapest
    Flask view that could answer it. A 100-item feed is ingested through the real
    pipeline (loopback origin, ``Fetcher``, ``fetch_and_store``) into a temp SQLite
    database and published with ``Publisher.publish``; then, in the same run, two
    gunicorn servers are started with identical settings:

    * feedsvc: ``gunicorn wsgi:app`` from the project root, with
      ``FEEDSVC_DATABASE_URL``, ``FEEDSVC_FEEDS_DIR`` and ``FEEDSVC_BASE_URL`` set;
    * bare: ``bench/bare_app.py``, a Flask app returning the same body, media type
      and ETag as constants, and 304 to the same ``If-None-Match`` comparison.

    Both run ``-w 1 -k gthread --threads 4`` (one worker process, keep-alive
    connections, which the sync worker does not keep) on 127.0.0.1. Each is loaded
    with the same client for ``/feeds/all.rss``: plain GETs (200, full body, no
    gzip) and GETs with ``If-None-Match: <the feed's ETag>`` (304). Loads alternate
    between the apps (three times each by default) and the run with the least CPU
    per request is kept, which is the one least disturbed by other work on the machine.

    The client is ``wrk -t1 -c8`` when wrk is installed. Without wrk the script says
    so and falls back to a small Python client (http.client, keep-alive, 8 threads)
    in a separate process: requests/s are then limited by that client, but CPU per
    request on the server stays comparable.

How to read it
    ``req/s`` is throughput as the client saw it. ``CPU us/req`` is the user+system
    CPU time of the gunicorn processes (master and worker, from
    ``/proc/<pid>/stat``) during the load, divided by the requests the client
    completed: the cost that decides how many cores a busy service needs, and the
    figure the goal is about. ``feedsvc/bare`` ratios follow; the goal printed next
    to them is CPU per request <= 1.1x the bare app. Nothing fails when it is
    missed: the figures are information, measured against a reference of the same
    run on the same machine.

Run: ``.venv/bin/python bench/serve.py [--duration S] [--rounds N] [--client wrk|python]``
(total run time about 4 x rounds x duration + 15 s; default ~65 s).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
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

from feedsvc.fetch import AddressPolicy, Fetcher  # noqa: E402
from feedsvc.model import PublishedFeed  # noqa: E402
from feedsvc.publish import Publisher  # noqa: E402
from feedsvc.refresh import fetch_and_store  # noqa: E402
from feedsvc.store import Store  # noqa: E402

ITEMS = 100
PATH = "/feeds/all.rss"
GOAL = 1.1
CONNECTIONS = 8
GUNICORN_SETTINGS = ["-w", "1", "-k", "gthread", "--threads", "4", "--keep-alive", "5"]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the feed


def build_feed(folder: Path, base_url: str) -> tuple[str, PublishedFeed]:
    """A 100-item feed through the real pipeline; returns the database URL and all.rss."""
    from servers import LoopbackServer, Reply

    document = make_document(0, ITEMS)
    database_url = f"sqlite:///{folder / 'feedsvc.sqlite3'}"
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
            Publisher(store, catalog, base_url=base_url, feed_size=ITEMS).publish(None, NOW)
            feed = next(f for f in store.load_feeds() if f.path == PATH.lstrip("/"))
        finally:
            store.close()
    return database_url, feed


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Gunicorn:
    """One gunicorn master on 127.0.0.1, started and stopped by this script."""

    def __init__(self, name: str, app: str, chdir: Path, env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = log
        command = [
            sys.executable, "-m", "gunicorn", app,
            "--chdir", str(chdir),
            "-b", f"127.0.0.1:{self.port}",
            *GUNICORN_SETTINGS,
            "--error-logfile", str(log),
        ]  # fmt: skip
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **env},
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, check: Sequence[tuple[str, str]] = ()) -> http.client.HTTPResponse:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                return get(self.port, dict(check))
            except OSError:
                time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name}: gunicorn did not answer on port {self.port}\n{tail}")

    def pids(self) -> list[int]:
        """The master and its workers (their CPU time is what a request costs)."""
        master = self.process.pid
        return [master, *children(master)]

    def stop(self) -> None:
        if self.process.poll() is None:
            workers = children(self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
            for pid in workers:  # normally gone with the master; never leave one behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    if found:
        return found
    for stat in Path("/proc").glob("[0-9]*/stat"):  # kernels without .../children
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
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


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    bad: int  # responses other than the status expected, plus socket errors

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(port: int, headers: Mapping[str, str], duration: float) -> Load:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration:g}s", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}{PATH}")
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    if done is None:
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[done.group(3)]
    bad = 0
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        bad += int(non_2xx.group(1))
    if errors := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        bad += sum(int(n) for n in errors.groups())
    return Load(int(done.group(1)), float(done.group(2)) * scale, bad)


def _python_client(
    port: int, headers: dict[str, str], duration: float, expect: int, out: multiprocessing.Queue
) -> None:
    """Child process: CONNECTIONS keep-alive connections, each in a thread, until the deadline."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        done = bad = 0
        while time.monotonic() < deadline:
            try:
                connection.request("GET", PATH, headers=headers)
                response = connection.getresponse()
                response.read()
                done += 1
                bad += response.status != expect
            except (OSError, http.client.HTTPException):
                bad += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.close()
        with lock:
            counts["done"] += done
            counts["bad"] += bad

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 10)
    out.put((counts["done"], time.monotonic() - started, counts["bad"]))


def run_python(port: int, headers: Mapping[str, str], duration: float, expect: int) -> Load:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()
    process = context.Process(
        target=_python_client, args=(port, dict(headers), duration, expect, queue), daemon=True
    )
    process.start()
    try:
        done, seconds, bad = queue.get(timeout=duration + 30)
    finally:
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)
    return Load(done, seconds, bad)


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Measure:
    load: Load
    cpu: float  # server CPU seconds during the load

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.load.requests * 1e6 if self.load.requests else float("inf")


def measure(
    server: Gunicorn, headers: Mapping[str, str], duration: float, expect: int, client: str
) -> Measure:
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


def environment(client: str) -> str:
    wrk = "absent"
    if shutil.which("wrk"):
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        wrk = wrk_version.split()[1] if wrk_version.split()[1:] else "present"
    return (
        f"python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"cpus {os.cpu_count()}, gunicorn {version('gunicorn')}, Flask {version('flask')}, "
        f"wrk {wrk}; client: {client}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load (4)")
    parser.add_argument("--rounds", type=int, default=3, help="loads per app and kind (3)")
    parser.add_argument("--client", choices=("wrk", "python"), default=None)
    args = parser.parse_args(argv)
    duration = max(1.0, min(args.duration, 15.0))
    rounds = max(1, min(args.rounds, 5))
    # A SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so every gunicorn is stopped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    print("feedsvc serve benchmark")
    client = args.client or ("wrk" if shutil.which("wrk") else "python")
    if client == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed; using the Python client instead")
        client = "python"
    elif client == "python" and args.client is None:
        print(
            "NOTE: wrk is not installed (apt-get install wrk): falling back to a Python "
            "http.client load generator; req/s are limited by it, CPU us/req stay comparable"
        )
    print(f"environment: {environment(client)}")
    print(f"gunicorn settings (both apps): {' '.join(GUNICORN_SETTINGS)}")
    servers: list[Gunicorn] = []
    with tempfile.TemporaryDirectory(prefix="feedsvc-serve-") as temp:
        folder = Path(temp)
        base_url = "http://127.0.0.1:8000/"
        database_url, feed = build_feed(folder, base_url)
        body_file = folder / "all.rss"
        body_file.write_bytes(feed.body)
        print(
            f"feed: {PATH}, {ITEMS} items, {len(feed.body)} bytes, {feed.media_type}, "
            f"ETag {feed.etag}"
        )
        try:
            feedsvc = Gunicorn(
                "feedsvc",
                "wsgi:app",
                ROOT,
                {
                    "FEEDSVC_DATABASE_URL": database_url,
                    "FEEDSVC_FEEDS_DIR": str(folder / "feeds"),
                    "FEEDSVC_BASE_URL": base_url,
                    "FEEDSVC_FEED_SIZE": str(ITEMS),
                },
                folder / "feedsvc.log",
            )
            servers.append(feedsvc)
            bare = Gunicorn(
                "bare",
                "bare_app:app",
                BENCH,
                {
                    "BENCH_BODY_FILE": str(body_file),
                    "BENCH_CONTENT_TYPE": feed.media_type,
                    "BENCH_ETAG": feed.etag,
                },
                folder / "bare.log",
            )
            servers.append(bare)
            for server in servers:
                response = server.wait_ready()
                body = response.body  # type: ignore[attr-defined]
                if response.status != 200 or body != feed.body:
                    raise RuntimeError(f"{server.name}: not the published feed ({response.status})")
                if response.getheader("Content-Type") != feed.media_type:
                    raise RuntimeError(f"{server.name}: wrong media type")
                if get(server.port, {"If-None-Match": feed.etag}).status != 304:
                    raise RuntimeError(f"{server.name}: no 304 for the feed's ETag")

            kinds = {
                "200": ({}, 200),
                "304": ({"If-None-Match": feed.etag}, 304),
            }
            results: dict[tuple[str, str], Measure] = {}
            for kind, (headers, expect) in kinds.items():
                for server in servers:  # warm up: first requests build caches
                    measure(server, headers, 1.0, expect, client)
                for number in range(rounds):
                    for server in servers if number % 2 == 0 else reversed(servers):
                        result = measure(server, headers, duration, expect, client)
                        print(
                            f"  {kind} {server.name:8s} round {number + 1}: "
                            f"{result.load.rate:8.0f} req/s, {result.cpu_us:7.0f} us CPU/req"
                        )
                        key = (kind, server.name)
                        if key not in results or result.cpu_us < results[key].cpu_us:
                            results[key] = result
        finally:
            for server in servers:
                server.stop()

    print()
    print(f"best of {rounds} loads of {duration:g} s, {CONNECTIONS} connections ({client})")
    print(f"  {'':14s} {'req/s':>9s} {'CPU us/req':>11s}")
    for kind in kinds:
        for name in ("feedsvc", "bare"):
            result = results[(kind, name)]
            print(
                f"  {kind} {name:10s} {result.load.rate:9.0f} {result.cpu_us:11.0f}"
                f"   [{result.load.requests} requests, {result.cpu:.2f} s CPU]"
            )
    print("ratios feedsvc/bare")
    for kind in kinds:
        ours, ref = results[(kind, "feedsvc")], results[(kind, "bare")]
        cpu_ratio = ours.cpu_us / ref.cpu_us
        verdict = "met" if cpu_ratio <= GOAL else "MISSED"
        print(
            f"  {kind}: CPU per request {cpu_ratio:5.2f}x (goal <= {GOAL}x: {verdict}), "
            f"req/s {ours.load.rate / ref.load.rate:5.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
