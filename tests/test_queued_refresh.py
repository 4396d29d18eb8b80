"""Admin refreshes never take a web thread: the public side keeps answering while
refreshes of sources that answer nothing are pending, on a real `feedsvc serve`.

Asserted on order and counts, never on times: every feed request is answered
while the slow origin still holds every fetch it was sent (none answered), and
every refresh request was answered 202 before its fetch ended.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schedule_support import add_source
from servers import LoopbackServer, Reply
from test_server import request, serving, serving_env
from test_service import stop, wait_for

pytestmark = pytest.mark.slow

SLOW = 8
TOKEN = "queued-refresh-admin-token"
FEED_REQUESTS = 40


def test_feeds_answer_while_eight_refreshes_of_silent_sources_are_pending(
    feeds_dir: Path, tmp_path: Path
) -> None:
    paths = [f"/silent{n}.rss" for n in range(SLOW)]
    with LoopbackServer(dict.fromkeys(paths, Reply(hang=True))) as origin:
        for n, path in enumerate(paths):
            add_source(feeds_dir, f"silent{n}", origin.url(path), every="1h")
            with (feeds_dir / "sources.toml").open("a") as catalogue:
                catalogue.write("enabled = false\n")  # fetched only when an operator asks
        env = serving_env(
            feeds_dir, tmp_path, FEEDSVC_ALLOW_NETWORKS="127.0.0.0/8", FEEDSVC_ADMIN_TOKEN=TOKEN
        )

        def pending() -> int:
            return sum(origin.in_flight(path) for path in paths)

        # one worker with two threads: two fetches on web threads would starve it
        with serving(env, "--workers", "1", "--threads", "2") as (process, port):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            answers = [
                request(port, f"/api/v1/sources/silent{n}/refresh", method="POST", **auth)
                for n in range(SLOW)
            ]
            assert [status for status, _ in answers] == [202] * SLOW, answers
            wait_for(lambda: pending() >= 1)  # the scheduler is fetching; nothing answers
            served = []
            for n in range(FEED_REQUESTS):
                path = ("/feeds/all.rss", "/feeds/desks/nym.atom", "/feeds.opml", "/")[n % 4]
                status, body = request(port, path)
                served.append((status, bool(body), pending() >= 1))
            assert served == [(200, True, True)] * FEED_REQUESTS  # all answered, all meanwhile
            status, body = request(
                port, "/api/v1/sources/silent0/health", Authorization=f"Bearer {TOKEN}"
            )
            assert status == 200  # the admin side answers too
            assert sum(origin.hits(path) for path in paths) >= 1
            origin.stop()  # the silent sources give up at last: the fetches end in errors
            output = stop(process)
    assert process.returncode == 0, output
    assert "Traceback" not in output
