"""Load clients for ``bench/serve.py``: wrk when installed, else a Python client.

Both keep ``CONNECTIONS`` keep-alive connections busy with one GET for ``PATH``
for a while and report how many requests completed and how many were not the
status expected (or failed).
"""

from __future__ import annotations

import http.client
import multiprocessing
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

PATH = "/feeds/all.rss"
CONNECTIONS = 8


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
