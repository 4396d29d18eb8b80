"""The embedded server for real: `feedsvc serve` processes, raw sockets, slow clients."""

from __future__ import annotations

import http.client
import json
import os
import random
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy import select as sql_select

from feedsvc.store.schema import copies, sources
from servers import LoopbackServer, Reply
from test_service import add_source, feedsvc, free_port, rss, stop, wait_for

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 600
CLIENT_TIMEOUT = 5.0  # a ceiling for a hang, not a speed goal


def request(
    port: int, path: str, host: str | None = None, method: str = "GET", **headers: str
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        if host is not None:
            headers["Host"] = host
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def serving_env(feeds_dir: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "FEEDSVC_FEEDS_DIR": str(feeds_dir),
        "FEEDSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        **extra,
    }


@contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    with feedsvc("serve", "--port", str(port), *args, env=env) as process:
        wait_for(lambda: request(port, "/feeds/all.rss")[0] == 200)
        yield process, port


class Trickle:
    """Slowloris: sockets that send a request line, then one header byte now and then."""

    def __init__(self, port: int, count: int) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < count + 256:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
        self.sockets: list[socket.socket] = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
            sock.sendall(
                f"GET /feeds/all.rss HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode()
            )
            sock.setblocking(False)
            self.sockets.append(sock)
        self.closed_by_server: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _drip(self) -> None:
        while not self._stop.wait(1.0):
            for index, sock in enumerate(self.sockets):
                if index in self.closed_by_server:
                    continue
                try:
                    sock.send(b"a")
                except OSError:  # reset or broken pipe: the server dropped it
                    self.closed_by_server.add(index)

    def poll_closed(self) -> int:
        """Mark every socket the server has closed (EOF, or a reset); return how many."""
        open_ones = [s for i, s in enumerate(self.sockets) if i not in self.closed_by_server]
        readable, _, _ = select.select(open_ones, [], [], 0) if open_ones else ([], [], [])
        for sock in readable:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data or data.startswith(b"HTTP/1.1 408"):
                self.closed_by_server.add(self.sockets.index(sock))
        return len(self.closed_by_server)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


def test_600_trickling_clients_neither_block_others_nor_stay_open(
    feeds_dir: Path, tmp_path: Path
) -> None:
    with serving(serving_env(feeds_dir, tmp_path)) as (process, port):
        slow = Trickle(port, SLOW_CLIENTS)
        try:
            for _ in range(20):  # while every slow socket is open and trickling
                assert request(port, "/healthz")[0] == 200
                status, body = request(port, "/feeds/all.rss")
                assert status == 200 and b"<rss" in body
            assert slow.poll_closed() < SLOW_CLIENTS  # they were really open meanwhile
            # the server drops them itself once the header deadline passes
            wait_for(lambda: slow.poll_closed() == SLOW_CLIENTS, timeout=90, every=0.5)
            assert request(port, "/healthz")[0] == 200
        finally:
            slow.close()
        output = stop(process)
    assert process.returncode == 0, output
    assert "feedsvc: stopped" in output
    assert "Traceback" not in output


def test_random_hosts_get_400_from_the_real_server(feeds_dir: Path, tmp_path: Path) -> None:
    env = serving_env(feeds_dir, tmp_path, FEEDSVC_ALLOWED_HOSTS="feeds.example.org")
    rng = random.Random(7)
    with serving(env) as (process, port):
        for _ in range(200):
            host = f"{rng.getrandbits(48):x}.example:{rng.randrange(1, 65536)}"
            assert request(port, "/feeds/all.json", host=host)[0] == 400
        feed = json.loads(request(port, "/feeds/all.json")[1])
        assert feed["feed_url"] == f"http://127.0.0.1:{port}/feeds/all.json"
        named = json.loads(request(port, "/feeds/all.json", host="feeds.example.org")[1])
        assert named["feed_url"] == "http://feeds.example.org/feeds/all.json"
        stop(process)
    assert process.returncode == 0


def test_sigterm_lets_the_request_and_the_fetch_in_flight_finish(
    feeds_dir: Path, tmp_path: Path
) -> None:
    """A refresh that takes seconds (an operator's, queued by the admin API and run by the
    scheduler) and a scheduled fetch of another slow source are both running when SIGTERM
    arrives."""
    slow = Reply(body=rss("late"), delay=3)
    with LoopbackServer({"/scheduled": slow, "/asked": slow}) as origin:
        add_source(feeds_dir, "scheduled", origin.url("/scheduled"), every="1h")
        add_source(feeds_dir, "asked", origin.url("/asked"), every="1h")
        with (feeds_dir / "sources.toml").open("a") as catalogue:
            catalogue.write("enabled = false\n")  # fetched only when an operator asks
        env = serving_env(
            feeds_dir,
            tmp_path,
            FEEDSVC_ALLOW_NETWORKS="127.0.0.0/8",
            FEEDSVC_ADMIN_TOKEN="a-token-of-16-or-more",
        )
        with serving(env) as (process, port):
            wait_for(lambda: origin.hits("/scheduled") == 1)  # the scheduler is fetching it
            answer: dict[str, tuple[int, bytes]] = {}

            def ask() -> None:
                answer["refresh"] = request(
                    port, "/api/v1/sources/asked/refresh", method="POST",
                    Authorization="Bearer a-token-of-16-or-more",
                )  # fmt: skip

            asking = threading.Thread(target=ask)
            asking.start()
            wait_for(lambda: origin.hits("/asked") == 1)  # the queued refresh is in flight
            output = stop(process)
            asking.join(10)
    assert process.returncode == 0, output
    assert "feedsvc: stopped" in output and "Traceback" not in output
    status, body = answer["refresh"]
    assert status == 202, body  # queued at once, answered before the shutdown
    engine = create_engine(env["FEEDSVC_DATABASE_URL"])
    with engine.connect() as conn:
        titles = conn.execute(sql_select(copies.c.title)).scalars().all()
        leases = conn.execute(
            sql_select(sources.c.id).where(sources.c.lease_owner.is_not(None))
        ).all()
    engine.dispose()
    assert "late" in titles  # the scheduled fetch finished and was stored
    assert leases == []  # and every lease was given back


def test_workers_are_processes_that_never_run_a_scheduler(feeds_dir: Path, tmp_path: Path) -> None:
    """Leases name the process that claimed a source: with two workers beside the
    parent, every claim over many due sources must still be the parent's."""
    slow = Reply(body=rss("story"), delay=0.5)
    with LoopbackServer({f"/f{n}": slow for n in range(3)}) as origin:
        for n in range(3):
            add_source(feeds_dir, f"remote{n}", origin.url(f"/f{n}"), every="1s")
        env = serving_env(feeds_dir, tmp_path, FEEDSVC_ALLOW_NETWORKS="127.0.0.0/8")
        engine = create_engine(env["FEEDSVC_DATABASE_URL"])
        claimants: set[str] = set()

        def claims_seen() -> bool:
            with engine.connect() as conn:
                owners = conn.execute(
                    sql_select(sources.c.lease_owner).where(sources.c.lease_owner.is_not(None))
                ).scalars()
                claimants.update(owner.split(":")[-2] for owner in owners)
            return sum(origin.hits(f"/f{n}") for n in range(3)) >= 12

        with serving(env, "--workers", "2") as (process, port):
            workers = wait_for(lambda: len(kids := children(process.pid)) == 2 and kids)
            wait_for(claims_seen, timeout=60, every=0.1)
            assert request(port, "/feeds/all.atom")[0] == 200
            output = stop(process)
        engine.dispose()
    assert process.returncode == 0, output
    assert "with 2 worker(s)" in output
    assert claimants == {str(process.pid)}, (claimants, workers)


def children(pid: int) -> list[int]:
    """Worker processes of ``pid`` (multiprocessing's resource tracker left out)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" not in command:
                found.append(int(child))
    return found


def test_a_worker_app_starts_no_scheduler(feeds_dir: Path, tmp_path: Path) -> None:
    """What each worker process runs: an app with its feeds loaded, and no scheduler."""
    code = (
        "import sys, threading\n"
        "from feedsvc.config import load_settings\n"
        "from feedsvc.web.server import worker_app\n"
        "app = worker_app(load_settings())\n"
        "names = [t.name for t in threading.enumerate()]\n"
        "print('apscheduler' in sys.modules, len(names))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    environment.update(serving_env(feeds_dir, tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "1"]


def test_serve_with_a_bad_setting_is_one_line(feeds_dir: Path, tmp_path: Path) -> None:
    env = serving_env(feeds_dir, tmp_path, FEEDSVC_ALLOWED_HOSTS="*.example.org")
    with feedsvc("serve", "--port", str(free_port()), env=env) as process:
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 1
    assert output.strip().startswith("feedsvc: FEEDSVC_ALLOWED_HOSTS: '*.example.org'")
    assert "Traceback" not in output


def test_sigint_like_ctrl_c_stops_cleanly(feeds_dir: Path, tmp_path: Path) -> None:
    with serving(serving_env(feeds_dir, tmp_path)) as (process, _port):
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "feedsvc: stopped" in output and "Traceback" not in output
