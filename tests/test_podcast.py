"""A podcast republished by feedsvc, played by real podcast clients.

The source is shaped like the real podcast of issue 10: many episodes, each
linking to the show's home page and carrying one mp3 enclosure with its
length, type and iTunes duration. A loopback server serves it and the audio;
feedsvc fetches it with its real fetcher, reads and normalises it with the
stages ``refresh`` runs (``extract.parse_fetched``, ``extract.normalise_all``)
and renders RSS with ``render``; a second loopback server serves that feed,
as ``feedsvc serve`` would, and two of Debian's podcast clients subscribe:

- ``podget`` (a cron-style podcast downloader) downloads: every episode's
  file must arrive, byte for byte;
- ``newsboat`` (a feed reader whose ``podboat`` downloads what it queues)
  reloads the feed with ``podcast-auto-enqueue``: every episode must be an
  item with its audio enclosure, queued for podboat (which is interactive,
  so it is not run here).

Each test is skipped when its client is not installed
(``apt-get install podget newsboat``; .ci/run installs both).

(The store is not in this path yet: on this branch it neither keeps media
nor keeps apart episodes that share a link. Once it does, the same client
can be pointed at the feed ``Publisher`` writes.)
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from ipaddress import ip_network
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from feedsvc.extract import normalise_all, parse_fetched
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.model import Catalog, Desk, Source, Validators
from feedsvc.render import FeedSpec, render
from servers import LoopbackServer, Reply

EPISODES = 40
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
PODGET = shutil.which("podget")
NEWSBOAT = shutil.which("newsboat")
LOOPBACK = AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),))
FEED_PATH = "/feeds/desks/podcasts.rss"

pytestmark = pytest.mark.slow


def _audio(number: int) -> bytes:
    """A small file that starts like an mp3 (an ID3v2 tag), different for every episode."""
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    return tag + hashlib.sha256(b"episode %d" % number).digest() * (64 + number)


def _podcast(origin: str) -> bytes:
    """The show's RSS: every episode links to the home page, as real podcasts do."""
    home = origin + "/show/"
    items = []
    for number in range(EPISODES, 0, -1):
        when = format_datetime(NOW - timedelta(days=EPISODES - number + 1))
        items.append(
            f"<item><title>Episode {number}: {escape('Q&A')}</title><link>{home}</link>"
            f'<guid isPermaLink="false">show-episode-{number}</guid><pubDate>{when}</pubDate>'
            f"<description>Notes for episode {number}.</description>"
            f"<itunes:duration>{number}:{number % 60:02d}</itunes:duration>"
            f'<enclosure url="/audio/episode-{number:03d}.mp3" length="{len(_audio(number))}" '
            f'type="audio/mpeg"/></item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
        f"<channel><title>The Loopback Show</title><link>{home}</link>"
        "<description>Episodes that all link home</description><language>en</language>"
        f'<itunes:image href="{origin}/show/cover.jpg"/>' + "".join(items) + "</channel></rss>"
    ).encode()


def _republished(feed_url: str) -> bytes:
    """What feedsvc publishes for a feed source of ``feed_url``, through its real stages."""
    source = Source(
        id="loopback-show", kind="feed", desk="podcasts", every=timedelta(hours=1), url=feed_url
    )
    catalog = Catalog(
        root=Path("."),
        desks={"podcasts": Desk(id="podcasts", title="Podcasts")},
        topics={},
        sources={source.id: source},
    )
    fetched = Fetcher(policy=LOOPBACK).fetch(source, Validators())
    parsed = parse_fetched(fetched, source, ())
    articles, problems = normalise_all(parsed.items, source, catalog, NOW)
    assert parsed.problems == () and problems == []
    spec = FeedSpec(
        path="feeds/desks/podcasts",
        title="Podcasts",
        description="Shows we carry",
        home_path="desks/podcasts",
        ttl=timedelta(hours=1),
        language="en",
    )
    return render(spec, articles, "http://127.0.0.1/", "rss")


def _env(home: Path) -> dict[str, str]:
    """A bare environment: the client's files under ``home``, nothing of the caller's."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }


def _podget(tmp_path: Path, feed_url: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Run podget as its manual says: its own fresh configuration, our feed in its server list."""
    assert PODGET is not None
    config, library, session = tmp_path / "podget", tmp_path / "library", tmp_path / "session"
    library.mkdir()
    env = _env(tmp_path)
    subprocess.run(
        [PODGET, "-d", str(config), "--create-config", "podgetrc"],
        capture_output=True,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    rc = config / "podgetrc"
    settings = rc.read_text()
    settings = re.sub(r"(?m)^MIN_SPACE=.*$", "MIN_SPACE=1024", settings)
    settings = re.sub(
        r"(?m)^WGET_BASEOPTS=.*$", 'WGET_BASEOPTS="-c -nH --tries=1 --timeout=20"', settings
    )
    rc.write_text(settings)
    (config / "serverlist").write_text(f"{feed_url} Podcasts Loopback_Show\n")
    finished = subprocess.run(
        [PODGET, "-d", str(config), "--dir_session", str(session), "-l", str(library), "-n", "-v"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    return library, finished


@pytest.fixture
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    """The podcast's origin (feed and audio) and the service serving feedsvc's feed of it."""
    with LoopbackServer() as origin, LoopbackServer() as service:
        origin.route(
            "/show/feed.xml",
            Reply(body=_podcast(origin.origin), headers={"Content-Type": "application/rss+xml"}),
        )
        for number in range(1, EPISODES + 1):
            origin.route(
                f"/audio/episode-{number:03d}.mp3",
                Reply(body=_audio(number), headers={"Content-Type": "audio/mpeg"}),
            )
        feed = _republished(origin.url("/show/feed.xml"))
        assert feed.count(b"<enclosure ") == EPISODES
        service.route(
            FEED_PATH,
            Reply(body=feed, headers={"Content-Type": "application/rss+xml; charset=utf-8"}),
        )
        yield origin, service


@pytest.mark.skipif(PODGET is None, reason="podget is not installed (apt-get install podget)")
def test_podget_downloads_every_episode_of_the_republished_podcast(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    origin, service = servers
    library, finished = _podget(tmp_path, service.url(FEED_PATH))
    downloaded = {p.name: p.read_bytes() for p in library.rglob("*.mp3")}
    report = finished.stdout[-3000:] + finished.stderr[-3000:]
    assert finished.returncode == 0, report
    assert service.hits(FEED_PATH) >= 1
    assert sorted(downloaded) == [f"episode-{n:03d}.mp3" for n in range(1, EPISODES + 1)], report
    for number in range(1, EPISODES + 1):
        assert downloaded[f"episode-{number:03d}.mp3"] == _audio(number)
        assert origin.hits(f"/audio/episode-{number:03d}.mp3") == 1


@pytest.mark.skipif(NEWSBOAT is None, reason="newsboat is not installed (apt-get install newsboat)")
def test_newsboat_queues_every_episode_for_podboat(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    origin, service = servers
    assert NEWSBOAT is not None
    urls, config, cache = tmp_path / "urls", tmp_path / "config", tmp_path / "cache.db"
    urls.write_text(service.url(FEED_PATH) + "\n")
    config.write_text(f'podcast-auto-enqueue yes\ndownload-path "{tmp_path}/podcasts/%n"\n')
    finished = subprocess.run(
        [NEWSBOAT, "-u", str(urls), "-c", str(cache), "-C", str(config), "-x", "reload"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env=_env(tmp_path),
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    with sqlite3.connect(cache) as db:  # newsboat's own cache: what its reader shows
        rows = db.execute("SELECT title, enclosure_url, enclosure_type FROM rss_item").fetchall()
    audio = {n: origin.url(f"/audio/episode-{n:03d}.mp3") for n in range(1, EPISODES + 1)}
    assert sorted(rows) == sorted(
        (f"Episode {n}: Q&A", url, "audio/mpeg") for n, url in audio.items()
    )
    queue = (tmp_path / ".newsboat" / "queue").read_text().splitlines()
    assert sorted(line.split(" ", 1)[0] for line in queue) == sorted(audio.values())
