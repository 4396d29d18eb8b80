"""Tests of feedsvc.media and of media through normalise: table-driven rows per rule,
whole items, and the fingerprint that makes a changed enclosure update the story."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.media import (
    MAX_DURATION,
    MAX_ENCLOSURES,
    MAX_LENGTH,
    MAX_RAW_ENCLOSURES,
    clean_enclosures,
    content_image,
    guess_type,
    lead_image,
    media_type,
    read_duration,
    read_length,
)
from feedsvc.model import Document, Enclosure, RawItem, Source
from feedsvc.normalise import fingerprint, normalise, sanitise_html
from feedsvc.parse import parse_feed

BASE = "https://pod.example/show/"
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
SOURCE = Source(id="pod", kind="feed", desk="nym", every=timedelta(minutes=5), url=BASE)

# --------------------------------------------------------------------------- reading numbers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12345", 12345),
        (" 12345 ", 12345),
        (12345, 12345),
        (12345.0, 12345),
        ("0", 0),
        ("12345.0", 12345),
        ("12345.5", None),
        (12.5, None),
        ("", None),
        ("-5", None),
        (-5, None),
        ("12,345", None),
        ("12 MB", None),
        ("1e9", None),
        ("9" * 21, None),
        (True, None),
        (None, None),
        ([1], None),
        (float("inf"), None),
        (float("nan"), None),
        (10**40, 10**40),  # read; the normaliser's range drops it
    ],
)
def test_read_length(raw: object, expected: int | None) -> None:
    assert read_length(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1800", 1800),
        (1800, 1800),
        (262.6, 263),
        ("262.4", 262),
        ("30:00", 1800),
        ("0:30:00", 1800),
        ("1:02:03", 3723),
        ("01:02:03.25", 3723),
        ("90:00", 5400),  # minutes past sixty with no hours: as podcast apps read it
        ("100:00:00", 360000),
        ("1:75:00", None),
        ("1:02:60", None),
        ("1:2:3:4", None),
        ("about a minute", None),
        ("", None),
        ("-60", None),
        (-60, None),
        (None, None),
        (False, None),
        (float("inf"), None),
        ("PT30M", None),
    ],
)
def test_read_duration(raw: object, expected: int | None) -> None:
    assert read_duration(raw) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none(), st.booleans()))
def test_readers_never_raise(raw: object) -> None:
    length, duration = read_length(raw), read_duration(raw)
    assert length is None or (isinstance(length, int) and length >= 0)
    assert duration is None or (isinstance(duration, int) and duration >= 0)


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("audio/mpeg", "audio/mpeg"),
        ("Audio/MPEG", "audio/mpeg"),
        (' video/mp4; codecs="avc1.42E01E" ', "video/mp4"),
        ("application/vnd.apple.mpegurl", "application/vnd.apple.mpegurl"),
        ("audio/x-m4a", "audio/x-m4a"),
        ("image/svg+xml", "image/svg+xml"),
        ("mp3", None),
        ("audio", None),
        ("audio/", None),
        ("/mpeg", None),
        ("sound/mpeg", None),
        ("x-audio/mpeg", None),
        ("audio/mp eg", None),
        ("audio/<script>", None),
        ('text/html"><script>', None),
        ("", None),
        (None, None),
        ("audio/" + "a" * 200, None),
    ],
)
def test_media_type(raw: str | None, expected: str | None) -> None:
    assert media_type(raw) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.example/ep1.mp3", "audio/mpeg"),
        ("https://a.example/ep1.MP3?x=1", "audio/mpeg"),
        ("https://a.example/v/clip.m4v", "video/mp4"),
        ("https://a.example/ep1.mp3/download", None),
        ("https://a.example/stream?file=ep1.mp3", None),
        ("https://a.example/ep1", None),
        ("https://a.example/archive.tar.gz", None),
    ],
)
def test_guess_type_reads_only_the_path_extension(url: str, expected: str | None) -> None:
    assert guess_type(url) == expected


# --------------------------------------------------------------------------- clean_enclosures

E = Enclosure
CLEAN_ROWS: list[tuple[str, list[Enclosure], list[Enclosure]]] = [
    (
        "relative URL resolved against the base",
        [E("audio/ep1.mp3", "audio/mpeg", 100, 60)],
        [E(BASE + "audio/ep1.mp3", "audio/mpeg", 100, 60)],
    ),
    (
        "root-relative and protocol-relative",
        [E("/ep1.mp3", "audio/mpeg"), E("//cdn.example/ep2.mp3", "audio/mpeg")],
        [
            E("https://pod.example/ep1.mp3", "audio/mpeg"),
            E("https://cdn.example/ep2.mp3", "audio/mpeg"),
        ],
    ),
    (
        "javascript:, data:, ftp:, mailto: and file: dropped",
        [
            E("javascript:alert(1)", "audio/mpeg"),
            E("data:audio/mpeg;base64,AAAA", "audio/mpeg"),
            E("ftp://pod.example/ep.mp3", "audio/mpeg"),
            E("mailto:a@pod.example"),
            E("file:///etc/passwd"),
            E("https://pod.example/ok.mp3", "audio/mpeg"),
        ],
        [E("https://pod.example/ok.mp3", "audio/mpeg")],
    ),
    (
        "junk URLs dropped",
        [
            E(""),
            E("   "),
            E("http://[::1"),
            E("https://exa mple.com/x.mp3"),
            E("https://" + "a" * 3000),
        ],
        [],
    ),
    (
        "query kept (signed CDN URLs), tracker parameters too",
        [E("https://cdn.example/e.mp3?sig=abc&utm_source=rss", "audio/mpeg")],
        [E("https://cdn.example/e.mp3?sig=abc&utm_source=rss", "audio/mpeg")],
    ),
    (
        "RSS's length 0 (unknown), negative and giant lengths are None",
        [
            E("https://a.example/1.mp3", "audio/mpeg", 0),
            E("https://a.example/2.mp3", "audio/mpeg", -1),
            E("https://a.example/3.mp3", "audio/mpeg", MAX_LENGTH + 1),
            E("https://a.example/4.mp3", "audio/mpeg", MAX_LENGTH),
        ],
        [
            E("https://a.example/1.mp3", "audio/mpeg"),
            E("https://a.example/2.mp3", "audio/mpeg"),
            E("https://a.example/3.mp3", "audio/mpeg"),
            E("https://a.example/4.mp3", "audio/mpeg", MAX_LENGTH),
        ],
    ),
    (
        "zero, negative and week-long durations are None",
        [
            E("https://a.example/1.mp3", "audio/mpeg", None, 0),
            E("https://a.example/2.mp3", "audio/mpeg", None, -60),
            E("https://a.example/3.mp3", "audio/mpeg", None, MAX_DURATION + 1),
            E("https://a.example/4.mp3", "audio/mpeg", None, MAX_DURATION),
        ],
        [
            E("https://a.example/1.mp3", "audio/mpeg"),
            E("https://a.example/2.mp3", "audio/mpeg"),
            E("https://a.example/3.mp3", "audio/mpeg"),
            E("https://a.example/4.mp3", "audio/mpeg", None, MAX_DURATION),
        ],
    ),
    (
        "a type that is no media type: guessed from the extension, else None",
        [E("https://a.example/1.mp3", "mp3"), E("https://a.example/2", "transcript")],
        [E("https://a.example/1.mp3", "audio/mpeg"), E("https://a.example/2")],
    ),
    (
        "the source's type wins over the extension",
        [E("https://a.example/ep.mp3", "audio/x-mpeg")],
        [E("https://a.example/ep.mp3", "audio/x-mpeg")],
    ),
    (
        "one file twice: the first mention wins, later ones fill its gaps",
        [
            E("https://a.example/ep.mp3", "audio/mpeg", 9000, None),
            E("https://a.example/ep.mp3", "audio/x-mpeg", 1, 1200),
            E("https://a.example/ep.mp3", None, None, 5),
        ],
        [E("https://a.example/ep.mp3", "audio/mpeg", 9000, 1200)],
    ),
    (
        "the same URL written two ways is one file",
        [E("HTTPS://A.example:443/ep.mp3", "audio/mpeg"), E("https://a.example/ep.mp3", None, 5)],
        [E("https://a.example/ep.mp3", "audio/mpeg", 5)],
    ),
]


@pytest.mark.parametrize(("case", "raw", "expected"), CLEAN_ROWS, ids=[r[0] for r in CLEAN_ROWS])
def test_clean_enclosures(case: str, raw: list[Enclosure], expected: list[Enclosure]) -> None:
    assert clean_enclosures(raw, BASE) == tuple(expected), case


def test_hundreds_of_enclosures_keep_the_first_twenty() -> None:
    many = [E(f"https://a.example/{n}.mp3", "audio/mpeg", n + 1) for n in range(500)]
    kept = clean_enclosures(many, None)
    assert len(kept) == MAX_ENCLOSURES
    assert [e.url for e in kept] == [f"https://a.example/{n}.mp3" for n in range(MAX_ENCLOSURES)]


def test_junk_cannot_push_good_enclosures_out_forever() -> None:
    """Invalid candidates do not count against the ceiling, but only so many are tried."""
    junk = [E(f"javascript:x{n}") for n in range(30)]
    kept = clean_enclosures([*junk, E("https://a.example/real.mp3")], None)
    assert [e.url for e in kept] == ["https://a.example/real.mp3"]
    flood = [E(f"javascript:x{n}") for n in range(5000)]
    assert clean_enclosures([*flood, E("https://a.example/late.mp3")], None) == ()


def test_duplicates_after_the_ceiling_still_fill_gaps() -> None:
    many = [E(f"https://a.example/{n}.mp3") for n in range(MAX_ENCLOSURES)]
    kept = clean_enclosures([*many, E("https://a.example/0.mp3", None, 77, 60)], None)
    assert len(kept) == MAX_ENCLOSURES
    assert kept[0] == E("https://a.example/0.mp3", "audio/mpeg", 77, 60)


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<p><img src="https://a.example/lead.jpg" alt="x"></p>', "https://a.example/lead.jpg"),
        (
            '<img src="https://a.example/px.gif" width="1" height="1">'
            '<img src="https://a.example/lead.jpg" width="800">',
            "https://a.example/lead.jpg",
        ),
        ('<img src="https://a.example/smiley.png" height="16">', None),
        ('<img src="https://a.example/a.jpg?x=1&amp;y=2">', "https://a.example/a.jpg?x=1&y=2"),
        ("<p>no image</p>", None),
        ("", None),
    ],
)
def test_content_image(html: str, expected: str | None) -> None:
    assert content_image(html) == expected


def test_content_image_reads_what_the_sanitiser_wrote() -> None:
    """The first image is taken from sanitised content: resolved, http(s) only."""
    html = sanitise_html(
        '<img src="javascript:alert(1)"><img src="data:image/png;base64,AA">'
        '<img src="/pics/lead.jpg" width="640">',
        BASE,
    )
    assert content_image(html) == "https://pod.example/pics/lead.jpg"


def test_lead_image_order() -> None:
    photo = (E("https://a.example/photo.jpg", "image/jpeg"),)
    audio = (E("https://a.example/ep.mp3", "audio/mpeg"),)
    body = '<img src="https://a.example/body.jpg">'
    assert lead_image("/named.jpg", BASE, photo, body) == "https://pod.example/named.jpg"
    assert lead_image("javascript:alert(1)", BASE, photo, body) == "https://a.example/photo.jpg"
    assert lead_image(None, BASE, audio, body) == "https://a.example/body.jpg"
    assert lead_image(None, BASE, audio, "<p>words</p>") is None


# --------------------------------------------------------------------------- through normalise

EPISODE = RawItem(
    guid="ep-1",
    url="https://pod.example/show/",
    title="Episode 1",
    content_html="<p>Show notes.</p>",
    published=datetime(2025, 6, 1, tzinfo=UTC),
    base_url=BASE,
    enclosures=(E("ep1.mp3", "audio/mpeg", 1000, 1800),),
    image="cover-ep1.jpg",
)


def test_normalise_keeps_media() -> None:
    article = normalise(EPISODE, SOURCE, {}, {}, NOW)
    assert article.enclosures == (E(BASE + "ep1.mp3", "audio/mpeg", 1000, 1800),)
    assert article.image == BASE + "cover-ep1.jpg"
    assert article.to_json(BASE)["enclosures"] == [
        {"url": BASE + "ep1.mp3", "type": "audio/mpeg", "length": 1000, "duration": 1800}
    ]
    assert article.to_json(BASE)["image"] == BASE + "cover-ep1.jpg"


def test_the_fingerprint_counts_media() -> None:
    """A changed enclosure (a re-cut episode) or image must update the story."""
    base = normalise(EPISODE, SOURCE, {}, {}, NOW)
    assert base.fingerprint == fingerprint(base)
    changes = [
        replace(EPISODE, enclosures=(E("ep1-v2.mp3", "audio/mpeg", 1000, 1800),)),
        replace(EPISODE, enclosures=(E("ep1.mp3", "audio/mpeg", 1001, 1800),)),
        replace(EPISODE, enclosures=(E("ep1.mp3", "audio/mpeg", 1000, 1799),)),
        replace(EPISODE, enclosures=(E("ep1.mp3", "audio/mp4", 1000, 1800),)),
        replace(EPISODE, enclosures=(*EPISODE.enclosures, E("ep1.ogg", "audio/ogg"))),
        replace(EPISODE, enclosures=()),
        replace(EPISODE, image="cover-ep1-v2.jpg"),
        replace(EPISODE, image=None),
    ]
    prints = {normalise(item, SOURCE, {}, {}, NOW).fingerprint for item in changes}
    assert base.fingerprint not in prints
    assert len(prints) == len(changes)
    same = replace(EPISODE, enclosures=(E(BASE + "ep1.mp3", "audio/mpeg", 1000, 1800),))
    assert normalise(same, SOURCE, {}, {}, NOW).fingerprint == base.fingerprint


def test_an_item_with_only_an_enclosure_is_kept() -> None:
    bare = RawItem(guid=None, enclosures=(E("https://pod.example/lonely.mp3", "audio/mpeg"),))
    assert not bare.is_empty
    article = normalise(bare, SOURCE, {}, {}, NOW)
    assert article.title == "(untitled)"
    assert article.enclosures == (E("https://pod.example/lonely.mp3", "audio/mpeg"),)


def test_only_junk_enclosures_leave_nothing() -> None:
    junk = RawItem(guid="g", enclosures=(E("javascript:alert(1)"),))
    article = normalise(replace(junk, title="t"), SOURCE, {}, {}, NOW)
    assert article.enclosures == ()
    assert article.image is None


def test_hundreds_of_enclosures_in_a_feed_are_bounded_when_read_and_when_kept() -> None:
    links = "".join(
        f'<link rel="alternate" href="https://a.example/alt/{n}"/>' for n in range(150)
    ) + "".join(
        f'<link rel="enclosure" type="audio/mpeg" href="https://a.example/{n}.mp3"/>'
        for n in range(500)
    )
    media = "".join(f'<media:content url="https://a.example/m{n}.mp4"/>' for n in range(500))
    body = (
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">'
        "<id>f</id><title>F</title><updated>2025-06-01T00:00:00Z</updated>"
        f"<entry><id>e</id><title>E</title><updated>2025-06-01T00:00:00Z</updated>{links}{media}"
        "</entry></feed>"
    ).encode()
    (item,) = parse_feed(Document("https://a.example/feed", body)).items
    assert len(item.enclosures) == MAX_RAW_ENCLOSURES
    assert item.enclosures[0].url == "https://a.example/0.mp3"  # alternate links do not count
    article = normalise(item, SOURCE, {}, {}, NOW)
    assert [e.url for e in article.enclosures] == [
        f"https://a.example/{n}.mp3" for n in range(MAX_ENCLOSURES)
    ]
