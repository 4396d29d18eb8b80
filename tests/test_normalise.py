"""Tests of feedsvc.normalise: table-driven rows per building block, a few whole
items, and property tests for the sanitiser and the URL canonicaliser."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.catalog import load_catalog
from feedsvc.errors import ConfigError, ParseError
from feedsvc.model import Desk, Origin, RawItem, Source, Topic
from feedsvc.normalise import (
    article_guid,
    article_id,
    bounded_html,
    canonical_url,
    desk_for,
    fingerprint,
    match_topics,
    normalise,
    normalise_language,
    plain_text,
    sanitise_html,
    text_blocks,
    to_utc,
)
from feedsvc.text import AUTHOR_LIMIT, CONTENT_LIMIT, CORRECTION_LIMIT, SUMMARY_LIMIT, TITLE_LIMIT
from feedsvc.wire import read_wire

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://site.example/news/story.html"
NOW = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)
REL = 'rel="noopener noreferrer"'

# --------------------------------------------------------------------------- canonical_url

CANONICAL_URL_ROWS = [
    ("plain", "https://example.com/a", None, "https://example.com/a"),
    ("none", None, None, None),
    ("empty", "   ", None, None),
    ("whitespace stripped", "  https://example.com/a \n", None, "https://example.com/a"),
    ("scheme and host lower", "HTTPS://Example.COM/Path", None, "https://example.com/Path"),
    ("http default port", "http://example.com:80/a", None, "http://example.com/a"),
    ("https default port", "https://example.com:443/a", None, "https://example.com/a"),
    ("other port kept", "https://example.com:8443/a", None, "https://example.com:8443/a"),
    ("http port 443 kept", "http://example.com:443/", None, "http://example.com:443/"),
    ("fragment dropped", "https://example.com/a#top", None, "https://example.com/a"),
    ("userinfo dropped", "https://user:pw@example.com/a", None, "https://example.com/a"),
    ("empty path", "https://example.com", None, "https://example.com/"),
    ("empty path with query", "https://example.com?a=1", None, "https://example.com/?a=1"),
    (
        "utm and click ids removed, order kept",
        "https://example.com/a?b=2&utm_source=x&a=1&fbclid=z&UTM_Medium=y&gclid=g",
        None,
        "https://example.com/a?b=2&a=1",
    ),
    (
        "every listed tracker removed",
        "https://e.com/?dclid=1&gbraid=1&wbraid=1&msclkid=1&mc_cid=1&mc_eid=1&yclid=1"
        "&_hsenc=1&_hsmi=1&igshid=1&mkt_tok=1&oly_anon_id=1&oly_enc_id=1&vero_id=1"
        "&wt_mc=1&WT.mc_id=1&ref_src=1&s_cid=1&ncid=1&cmpid=1&__s=1&keep=1",
        None,
        "https://e.com/?keep=1",
    ),
    ("only trackers: no ?", "https://example.com/a?utm_campaign=x", None, "https://example.com/a"),
    (
        "encoding kept",
        "https://example.com/a%2Fb?q=a%20b&r=%C3%A9",
        None,
        "https://example.com/a%2Fb?q=a%20b&r=%C3%A9",
    ),
    ("spaces encoded", "https://example.com/a b", None, "https://example.com/a%20b"),
    ("relative path", "other.html", BASE, "https://site.example/news/other.html"),
    ("root relative", "/x", BASE, "https://site.example/x"),
    ("dot segments", "../up", BASE, "https://site.example/up"),
    ("protocol relative", "//cdn.example/x.png", BASE, "https://cdn.example/x.png"),
    ("protocol relative without base", "//cdn.example/x.png", None, None),
    ("relative without base", "/x", None, None),
    ("absolute ignores base", "http://other.example/", BASE, "http://other.example/"),
    ("idna host", "https://Bücher.example/", None, "https://xn--bcher-kva.example/"),
    ("ipv6 host", "http://[::1]:8080/x", None, "http://[::1]:8080/x"),
    ("javascript", "javascript:alert(1)", None, None),
    ("javascript mixed case", "JaVaScRiPt:alert(1)", BASE, None),
    ("javascript leading space", " javascript:alert(1)", BASE, None),
    ("javascript with tab", "java\tscript:alert(1)", BASE, None),
    ("javascript with newline", "java\nscript:alert(1)", BASE, None),
    ("javascript with NUL", "java\x00script:alert(1)", BASE, None),
    ("javascript with control", "\x01javascript:alert(1)", BASE, None),
    ("entity obfuscation is not a scheme", "jav&#x09;ascript:alert(1)", None, None),
    ("data", "data:text/html;base64,PHNjcmlwdD4=", BASE, None),
    ("file", "file:///etc/passwd", BASE, None),
    ("mailto", "mailto:a@example.com", BASE, None),
    ("ftp", "ftp://example.com/", None, None),
    ("bad port", "http://example.com:99999/", None, None),
    ("non-numeric port", "http://example.com:abc/", None, None),
    ("port zero", "http://example.com:0/", None, None),
    ("empty host", "http:///path", None, None),
    ("empty label", "http://a..example/", None, None),
    ("bad host chars", "http://exa%6dple.com/", None, None),
    ("bad ipv6", "http://[::zz]/", None, None),
    ("unclosed ipv6", "http://[::1/", None, None),
    ("too long", "https://example.com/" + "a" * 2100, None, None),
    ("just under the limit", "https://e.com/" + "a" * 2000, None, "https://e.com/" + "a" * 2000),
]


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [row[1:] for row in CANONICAL_URL_ROWS],
    ids=[row[0] for row in CANONICAL_URL_ROWS],
)
def test_canonical_url(url: str | None, base: str | None, expected: str | None) -> None:
    assert canonical_url(url, base) == expected


@settings(max_examples=300, deadline=None)
@given(
    url=st.one_of(
        st.text(),
        st.from_regex(r"\A(https?|javascript|data|ftp)?:?/{0,3}[^\s]{0,40}\Z"),
        st.builds(lambda h, p: f"http://{h}{p}", st.text(max_size=20), st.text(max_size=20)),
    ),
    base=st.one_of(st.none(), st.just(BASE), st.text(max_size=30)),
)
def test_canonical_url_never_raises(url: str, base: str | None) -> None:
    result = canonical_url(url, base)
    assert result is None or result.startswith(("http://", "https://"))
    if result is not None:
        assert canonical_url(result) == result


# --------------------------------------------------------------------------- sanitise_html

SANITISE_ROWS = [
    ("none", None, ""),
    ("empty", "", ""),
    ("allowed markup kept", "<p>Hi <em>there</em></p>", "<p>Hi <em>there</em></p>"),
    ("unknown tags unwrapped", "<div><span>text</span></div>", "text"),
    ("script dropped with content", "<p>a</p><script>alert(1)</script>", "<p>a</p>"),
    ("style dropped with content", "<style>p{color:red}</style><p>a</p>", "<p>a</p>"),
    (
        "event handler",
        '<img src="x.png" onerror="alert(1)">',
        '<img src="https://site.example/news/x.png">',
    ),
    ("onerror unquoted, invalid img removed", "<img src=javascript:x onerror=alert(1)>ok", "ok"),
    ("img without src removed", '<p><img alt="a">b</p>', "<p>b</p>"),
    (
        "entity-obfuscated javascript",
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        f"<a {REL}>x</a>",
    ),
    ("leading space javascript", '<a href=" javascript:alert(1)">x</a>', f"<a {REL}>x</a>"),
    ("mixed case javascript", '<a href="JaVaScRiPt:alert(1)">x</a>', f"<a {REL}>x</a>"),
    ("control char javascript", '<a href="java&#1;script:alert(1)">x</a>', f"<a {REL}>x</a>"),
    (
        "data link",
        '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>',
        f"<a {REL}>x</a>",
    ),
    ("data image", '<img src="data:image/png;base64,AAAA">', ""),
    ("iframe", '<iframe src="https://evil.example/">fallback</iframe>after', "after"),
    ("form and input", '<form action="/x"><input name="q" value="v">label</form>', "label"),
    (
        "base",
        '<base href="https://evil.example/"><a href="/x">x</a>',
        f'<a href="https://site.example/x" {REL}>x</a>',
    ),
    ("meta refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example/">ok', "ok"),
    ("link", '<link rel="stylesheet" href="https://evil.example/s.css">ok', "ok"),
    ("svg onload", "<svg onload=alert(1)><text>drawn</text></svg>ok", "ok"),
    ("math xlink", '<math><mi xlink:href="javascript:alert(1)">m</mi></math>ok', "ok"),
    ("object and embed", '<object data="x.swf">o</object><embed src="x.swf">ok', "ok"),
    (
        "srcset dropped",
        '<img src="a.png" srcset="b.png 2x">',
        '<img src="https://site.example/news/a.png">',
    ),
    ("style attribute dropped", '<p style="background:url(javascript:alert(1))">s</p>', "<p>s</p>"),
    ("relative link", '<a href="/x">x</a>', f'<a href="https://site.example/x" {REL}>x</a>'),
    (
        "link keeps query and fragment",
        '<a href="/x?utm_source=a#f">x</a>',
        f'<a href="https://site.example/x?utm_source=a#f" {REL}>x</a>',
    ),
    (
        "protocol relative image",
        '<img src="//cdn.example/x.png" alt="x">',
        '<img src="https://cdn.example/x.png" alt="x">',
    ),
    (
        "link title kept",
        '<a href="https://a.example/" title="t" class="c">x</a>',
        f'<a href="https://a.example/" title="t" {REL}>x</a>',
    ),
    (
        "image sizes numeric only",
        '<img src="/i.png" width="10" height="10px" alt="a">',
        '<img src="https://site.example/i.png" width="10" alt="a">',
    ),
    (
        "table spans",
        '<table><tr><td colspan="2" rowspan="x">a</td></tr></table>',
        '<table><tbody><tr><td colspan="2">a</td></tr></tbody></table>',
    ),
    (
        "time datetime",
        '<time datetime="2025-06-23" class="x">today</time>',
        '<time datetime="2025-06-23">today</time>',
    ),
    (
        "figure",
        '<figure><img src="/a.png"><figcaption>c</figcaption></figure>',
        '<figure><img src="https://site.example/a.png"><figcaption>c</figcaption></figure>',
    ),
    ("comments dropped", "a<!-- secret -->b", "ab"),
    ("NUL reference", "a&#0;b&#x0;c", "abc"),
    ("raw controls", "a\x00b\x01c\x7fd\ttab", "abcd\ttab"),
    ("lone surrogate", "a\ud800b", "ab"),
    ("C1 reference is cp1252", "a&#150;b", "a–b"),
    (
        "escaped text stays text",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ),
    (
        "nested headings reach a fixed point",
        "<h1><div><h2>x</h2></div></h1>",
        "<h1></h1><h2>x</h2>",
    ),
]


@pytest.mark.parametrize(
    ("html", "expected"),
    [row[1:] for row in SANITISE_ROWS],
    ids=[row[0] for row in SANITISE_ROWS],
)
def test_sanitise_html(html: str | None, expected: str) -> None:
    assert sanitise_html(html, BASE) == expected


def test_sanitise_without_base_drops_relative_links() -> None:
    assert sanitise_html('<a href="/x">x</a><img src="a.png">', None) == f"<a {REL}>x</a>"


class _Collector(HTMLParser):
    """Every start tag and attribute of a fragment, as a browser would tokenise it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


_FRAGMENTS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '<a href="jav&#x09;ascript:a">',
    '<a href=" javascript:a">', "<a href=JaVaScRiPt:a>", '<a href="data:text/html,x">',
    "<iframe src=//e.example>", "<form><input>", "<base href=//e.example>", "<svg onload=a>",
    "<math><mi xlink:href=javascript:a>", '<img srcset="a 1x">', '<p style="x:url(javascript:a)">',
    '<a href="/x">', "<img src=//cdn.example/x.png>", "<h1>", "<h2>", "<div>", "</div>", "<p>",
    "</p>", "<table>", "<td>", "<tr>", "<li>", "<ul>", "<a>", "</a>", "<b>", "</b>", "<pre>",
    "<style>", "</style>", "<!--", "-->", "<textarea>", "<noscript>", "<select>", "<option>",
    "&lt;", "&amp;", "&#0;", "&#x0;", "&#1;", "<![CDATA[", "]]>", "<", ">", '"', "'", "=",
    " onclick=", "javascript:", "text ", "\x00", "\r\n",
]  # fmt: skip
_HTMLISH = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(_FRAGMENTS), max_size=25).map("".join),
    st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=5)), max_size=25).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(html=_HTMLISH)
def test_sanitise_html_property(html: str) -> None:
    out = sanitise_html(html, BASE)
    assert "<script" not in out.lower()
    collector = _Collector()
    collector.feed(out)
    collector.close()
    for tag, attrs in collector.tags:
        assert tag not in {"script", "style", "iframe", "svg", "math", "form", "base", "meta"}
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name not in {"style", "srcset"}
            if name in {"href", "src"}:
                assert value is not None
                assert value.startswith(("http://", "https://")), value
            else:
                assert "javascript:" not in (value or "").lower()
    assert sanitise_html(out, BASE) == out


# --------------------------------------------------------------------------- plain_text

PLAIN_TEXT_ROWS = [
    ("none", None, True, ""),
    ("tags stripped", "<b>Bold</b> and <i>italic</i>", True, "Bold and italic"),
    ("blocks become spaces", "<p>one</p><p>two</p><br>three", True, "one two three"),
    ("entities decoded", "Caf&eacute; &amp; bar &#8211; x", True, "Café & bar – x"),
    ("escaped markup is literal text", "&lt;b&gt;not bold&lt;/b&gt;", True, "<b>not bold</b>"),
    ("no double unescape", "AT&amp;amp;T", True, "AT&amp;T"),
    ("script content dropped", "a<script>evil()</script>b", True, "ab"),
    ("whitespace collapsed", "  a \n\t b\u00a0c  ", True, "a b c"),
    ("controls removed", "a\x00b\x07c&#0;d", True, "abcd"),
    ("lone surrogate removed", "a\udc00b", True, "ab"),
    ("not html: tags literal", "<b>x</b> &amp;", False, "<b>x</b> &amp;"),
    ("not html: whitespace collapsed", " a\n\nb ", False, "a b"),
]


@pytest.mark.parametrize(
    ("text", "is_html", "expected"),
    [row[1:] for row in PLAIN_TEXT_ROWS],
    ids=[row[0] for row in PLAIN_TEXT_ROWS],
)
def test_plain_text(text: str | None, is_html: bool, expected: str) -> None:
    assert plain_text(text, is_html) == expected


# --------------------------------------------------------------------------- to_utc

TO_UTC_ROWS = [
    ("none", None, "UTC", None),
    ("naive utc", datetime(2025, 6, 23, 21, 9), "UTC", datetime(2025, 6, 23, 21, 9, tzinfo=UTC)),
    (
        "naive brussels summer",
        datetime(2025, 6, 23, 21, 9),
        "Europe/Brussels",
        datetime(2025, 6, 23, 19, 9, tzinfo=UTC),
    ),
    (
        "naive brussels winter",
        datetime(2025, 1, 15, 9, 30),
        "Europe/Brussels",
        datetime(2025, 1, 15, 8, 30, tzinfo=UTC),
    ),
    (
        "ambiguous fall-back hour takes fold 0",
        datetime(2025, 10, 26, 2, 30),
        "Europe/Brussels",
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
    ),
    (
        "aware offset converted",
        datetime(2025, 6, 23, 21, 9, tzinfo=timezone(timedelta(hours=-5))),
        "Europe/Brussels",
        datetime(2025, 6, 24, 2, 9, tzinfo=UTC),
    ),
    (
        "aware half-hour offset",
        datetime(2025, 6, 23, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        "UTC",
        datetime(2025, 6, 23, 6, 30, tzinfo=UTC),
    ),
    (
        "microseconds dropped",
        datetime(2025, 6, 23, 12, 0, 0, 999_999, tzinfo=UTC),
        "UTC",
        datetime(2025, 6, 23, 12, 0, 0, tzinfo=UTC),
    ),
    (
        "unrepresentable is none",
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        "UTC",
        None,
    ),
]


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [row[1:] for row in TO_UTC_ROWS],
    ids=[row[0] for row in TO_UTC_ROWS],
)
def test_to_utc(moment: datetime | None, zone: str, expected: datetime | None) -> None:
    result = to_utc(moment, zone)
    assert result == expected
    if result is not None:
        assert result.utcoffset() == timedelta(0)
        assert result.microsecond == 0


def test_to_utc_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        to_utc(datetime(2025, 1, 1), "Mars/Olympus")


# --------------------------------------------------------------------------- topics, desks

TOPICS = {
    "security": Topic(
        "security",
        "Security & Defence",
        match=("security", "defence", "NATO", "arms control"),
        categories=("Defence", "Security"),
    ),
    "nation": Topic("nation", "Nation", match=("nation",)),
    "cpp": Topic("cpp", "C++", match=("C++",)),
    "climate": Topic("climate", "Climate", categories=("Climate Change",)),
}

MATCH_TOPICS_ROWS = [
    ("word", "Talks on security today", (), (), ("security",)),
    ("case insensitive", "DEFENCE budgets", (), (), ("security",)),
    ("possessive matches", "NATO's summit", (), (), ("security",)),
    ("longer word does not match", "the nations gathered", (), (), ()),
    ("plural of acronym does not match", "two NATOs", (), (), ()),
    ("phrase", "new arms control talks", (), (), ("security",)),
    ("phrase across whitespace", "new arms\n  control talks", (), (), ("security",)),
    ("phrase words apart do not match", "arms and control", (), (), ()),
    ("punctuation phrase", "written in C++, fast", (), (), ("cpp",)),
    ("category", "nothing", ("  defence ",), (), ("security",)),
    ("category with spaces", "nothing", ("climate   change",), (), ("climate",)),
    ("unknown category", "nothing", ("Sports",), (), ()),
    ("fixed", "nothing", (), ("climate",), ("climate",)),
    ("unknown fixed ignored", "nothing", (), ("ghost",), ()),
    (
        "several sorted unique",
        "nation security",
        ("Security",),
        ("security",),
        ("nation", "security"),
    ),
]


@pytest.mark.parametrize(
    ("text", "categories", "fixed", "expected"),
    [row[1:] for row in MATCH_TOPICS_ROWS],
    ids=[row[0] for row in MATCH_TOPICS_ROWS],
)
def test_match_topics(
    text: str, categories: tuple[str, ...], fixed: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    assert match_topics(text, categories, TOPICS, fixed) == expected


DESKS = {
    "nym": Desk("nym", "NYM Desk", bylines=("NYM Desk", "NYM Newsroom")),
    "world": Desk("world", "World", bylines=("World Desk",)),
}

DESK_FOR_ROWS = [
    ("exact", "NYM Desk", "nym"),
    ("case and spaces", "  nym   DESK ", "nym"),
    ("second byline", "NYM Newsroom", "nym"),
    ("other desk", "World Desk", "world"),
    ("unknown", "Sports Desk", "default"),
    ("none", None, "default"),
    ("blank", "   ", "default"),
]


@pytest.mark.parametrize(
    ("byline", "expected"),
    [row[1:] for row in DESK_FOR_ROWS],
    ids=[row[0] for row in DESK_FOR_ROWS],
)
def test_desk_for(byline: str | None, expected: str) -> None:
    assert desk_for(byline, DESKS, "default") == expected


# --------------------------------------------------------------------------- identity, language

GUID_ROWS = [
    (
        "guid wins, exactly as written",
        RawItem(guid=" tag:x,2025:1 "),
        "https://e.com/a",
        " tag:x,2025:1 ",
    ),
    ("entities in a guid are its text", RawItem(guid="x&amp;y"), None, "x&amp;y"),
    ("url when no guid", RawItem(guid=None), "https://e.com/a", "https://e.com/a"),
    ("url when blank guid", RawItem(guid="  "), "https://e.com/a", "https://e.com/a"),
]


@pytest.mark.parametrize(
    ("item", "url", "expected"),
    [row[1:] for row in GUID_ROWS],
    ids=[row[0] for row in GUID_ROWS],
)
def test_article_guid(item: RawItem, url: str | None, expected: str) -> None:
    assert article_guid(item, url) == expected


def test_article_guid_hash_of_words_is_stable() -> None:
    item = RawItem(guid=None, title="T", content_html="<p>body</p>")
    same = RawItem(guid=None, title="T", content_html="<p>body</p>", author="someone")
    other = RawItem(guid=None, title="T", content_html="<p>other body</p>")
    guid = article_guid(item, None)
    assert guid.startswith("sha256:")
    assert len(guid) == len("sha256:") + 64
    assert article_guid(same, None) == guid
    assert article_guid(other, None) != guid


ARTICLE_ID_ROWS = [
    ("same source and guid", ("s", "g"), ("s", "g"), True),
    ("other guid", ("s", "g"), ("s", "h"), False),
    ("other source", ("s", "g"), ("t", "g"), False),
    ("separator prevents collisions", ("ab", "c"), ("a", "bc"), False),
]


@pytest.mark.parametrize(
    ("first", "second", "equal"),
    [row[1:] for row in ARTICLE_ID_ROWS],
    ids=[row[0] for row in ARTICLE_ID_ROWS],
)
def test_article_id(first: tuple[str, str], second: tuple[str, str], equal: bool) -> None:
    one, two = article_id(*first), article_id(*second)
    assert len(one) == 24
    assert all(c in "0123456789abcdef" for c in one)
    assert (one == two) is equal


LANGUAGE_ROWS = [
    ("simple", "en", "en"),
    ("region", "en-US", "en-us"),
    ("underscore", "en_GB", "en-gb"),
    ("three letters", " fil ", "fil"),
    ("script and region", "zh-Hant-TW", "zh-hant-tw"),
    ("none", None, None),
    ("empty", "", None),
    ("too short", "e", None),
    ("garbage", "english language", None),
    ("digits first", "12", None),
]


@pytest.mark.parametrize(
    ("language", "expected"),
    [row[1:] for row in LANGUAGE_ROWS],
    ids=[row[0] for row in LANGUAGE_ROWS],
)
def test_normalise_language(language: str | None, expected: str | None) -> None:
    assert normalise_language(language) == expected


# --------------------------------------------------------------------------- normalise

WIRE_SOURCE = Source(
    id="nym-wire",
    kind="files",
    desk="world",
    every=timedelta(minutes=5),
    timezone="Europe/Brussels",
)
FEED_SOURCE = Source(
    id="world-rss",
    kind="feed",
    desk="world",
    every=timedelta(minutes=15),
    url="https://example.org/world.rss",
    topics=("climate",),
)
WIRE_ITEM = RawItem(
    guid="inbox/nym/2025-06-23-summit.txt",
    title="NATO leaders meet in The Hague",
    content_html="<p>Leaders discussed defence spending.</p><p>More talks follow.</p>",
    byline="NYM Desk",
    published=datetime(2025, 6, 23, 21, 9),
)


def test_normalise_wire_item() -> None:
    """A wire article has no URL of its own (its page is its url) and is the desk's."""
    article = normalise(WIRE_ITEM, WIRE_SOURCE, DESKS, TOPICS, NOW)
    ident = article_id("nym-wire", "inbox/nym/2025-06-23-summit.txt")
    assert article.url is None
    assert article.to_json("https://nym.example/") == {
        "id": ident,
        "source": "nym-wire",
        "guid": "inbox/nym/2025-06-23-summit.txt",
        "url": f"https://nym.example/articles/{ident}",
        "title": "NATO leaders meet in The Hague",
        "summary": "Leaders discussed defence spending. More talks follow.",
        "content_html": "<p>Leaders discussed defence spending.</p><p>More talks follow.</p>",
        "author": "NYM Desk",
        "desk": "nym",
        "topics": ["security"],
        "published": "2025-06-23T19:09:00Z",
        "updated": "2025-06-23T19:09:00Z",
        "language": None,
        "enclosures": [],
        "image": None,
        "retracted": None,
    }
    assert article.dated is True
    assert article.fingerprint == fingerprint(article)


def test_normalise_feed_item() -> None:
    item = RawItem(
        guid=None,
        url="/2025/06/story?utm_source=rss&id=7#comments",
        title="Storm &amp; &lt;rain&gt;",
        title_html=True,
        summary_html="<p>Heavy rain <b>expected</b>.</p>",
        content_html='<p>Full text <a href="/more">more</a><script>x()</script></p>',
        author="<a href='/me'>Jane Doe</a>",
        categories=("Weather",),
        published=datetime(2025, 6, 23, 10, 0, tzinfo=UTC),
        updated=datetime(2025, 6, 23, 11, 30, 15, 500, tzinfo=UTC),
        language="en-GB",
        base_url="https://example.org/feed",
    )
    article = normalise(item, FEED_SOURCE, DESKS, TOPICS, NOW)
    assert article.url == "https://example.org/2025/06/story?id=7"
    assert article.guid == article.url
    assert article.title == "Storm &"  # "<rain>" looks like a tag: titles never carry one
    assert article.summary == "Heavy rain expected."
    assert article.content_html == (
        f'<p>Full text <a href="https://example.org/more" {REL}>more</a></p>'
    )
    assert article.author == "Jane Doe"
    assert article.desk == "world"
    assert article.topics == ("climate",)
    assert article.published == datetime(2025, 6, 23, 10, 0, tzinfo=UTC)
    assert article.updated == datetime(2025, 6, 23, 11, 30, 15, tzinfo=UTC)
    assert article.language == "en-gb"


def test_normalise_without_date_gets_now() -> None:
    article = normalise(replace(WIRE_ITEM, published=None), WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert article.published == NOW
    assert article.updated == NOW
    assert article.dated is False


def test_undated_fingerprint_ignores_first_seen_time() -> None:
    item = replace(WIRE_ITEM, published=None)
    first = normalise(item, WIRE_SOURCE, DESKS, TOPICS, NOW)
    later = normalise(item, WIRE_SOURCE, DESKS, TOPICS, NOW + timedelta(hours=3))
    assert first.published != later.published
    assert first.fingerprint == later.fingerprint


DATE_ROWS = [
    ("updated only", None, datetime(2025, 6, 1, tzinfo=UTC), "2025-06-01", "2025-06-01", True),
    ("published only", datetime(2025, 6, 1, tzinfo=UTC), None, "2025-06-01", "2025-06-01", True),
    (
        "updated before published is raised",
        datetime(2025, 6, 2, tzinfo=UTC),
        datetime(2025, 6, 1, tzinfo=UTC),
        "2025-06-02",
        "2025-06-02",
        True,
    ),
    (
        "far future is undated",
        datetime(2030, 1, 1, tzinfo=UTC),
        None,
        "2025-07-01",
        "2025-07-01",
        False,
    ),
    (
        "near future kept",
        datetime(2025, 7, 1, 23, 0, tzinfo=UTC),
        None,
        "2025-07-01",
        "2025-07-01",
        True,
    ),
    (
        "before 1970 is missing",
        datetime(1969, 12, 31, tzinfo=UTC),
        None,
        "2025-07-01",
        "2025-07-01",
        False,
    ),
    (
        "before 1970 published falls back to updated",
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(2025, 6, 1, tzinfo=UTC),
        "2025-06-01",
        "2025-06-01",
        True,
    ),
]


@pytest.mark.parametrize(
    ("published", "updated", "want_published", "want_updated", "dated"),
    [row[1:] for row in DATE_ROWS],
    ids=[row[0] for row in DATE_ROWS],
)
def test_normalise_dates(
    published: datetime | None,
    updated: datetime | None,
    want_published: str,
    want_updated: str,
    dated: bool,
) -> None:
    item = replace(WIRE_ITEM, published=published, updated=updated)
    article = normalise(item, WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert article.published.date().isoformat() == want_published
    assert article.updated.date().isoformat() == want_updated
    assert article.updated >= article.published
    assert article.dated is dated


def test_identity_survives_changed_content() -> None:
    first = normalise(WIRE_ITEM, WIRE_SOURCE, DESKS, TOPICS, NOW)
    edited = replace(WIRE_ITEM, title="Edited title", content_html="<p>Rewritten.</p>")
    second = normalise(edited, WIRE_SOURCE, DESKS, TOPICS, NOW + timedelta(hours=1))
    assert second.guid == first.guid
    assert second.id == first.id
    assert second.fingerprint != first.fingerprint


def test_normalise_is_deterministic() -> None:
    first = normalise(WIRE_ITEM, WIRE_SOURCE, DESKS, TOPICS, NOW)
    again = normalise(WIRE_ITEM, WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert again == first


TITLE_ROWS = [
    (
        "summary text when no title",
        RawItem(guid="g", summary_html="<p>Only a summary.</p>"),
        "Only a summary.",
    ),
    (
        "long summary cut to about 80",
        RawItem(guid="g", summary_html="word " * 40),
        ("word " * 16).strip() + "…",
    ),
    ("untitled when only a link", RawItem(guid="g", url="https://e.com/a"), "(untitled)"),
    (
        "untitled when only an image",
        RawItem(guid="g", content_html='<img src="https://e.com/i.png">'),
        "(untitled)",
    ),
]


@pytest.mark.parametrize(
    ("item", "expected"),
    [row[1:] for row in TITLE_ROWS],
    ids=[row[0] for row in TITLE_ROWS],
)
def test_normalise_title_fallback(item: RawItem, expected: str) -> None:
    assert normalise(item, FEED_SOURCE, DESKS, TOPICS, NOW).title == expected


UNUSABLE_ROWS = [
    ("nothing at all", RawItem(guid="g")),
    ("only whitespace and markup", RawItem(guid="g", title="  ", content_html="<p> </p>")),
    ("only a javascript link", RawItem(guid="g", url="javascript:alert(1)", title_html=True)),
]


@pytest.mark.parametrize(
    "item", [row[1] for row in UNUSABLE_ROWS], ids=[row[0] for row in UNUSABLE_ROWS]
)
def test_normalise_unusable_item(item: RawItem) -> None:
    with pytest.raises(ParseError):
        normalise(item, FEED_SOURCE, DESKS, TOPICS, NOW)


# --------------------------------------------------------------------------- summaries of blocks

LEAD_ROWS = [
    (
        "a heading ends the lead",
        "<p>Markets barely moved.</p><h2>Key points</h2>"
        "<ul><li>Rate held at 4.25 per cent</li></ul>",
        "Markets barely moved.",
    ),
    (
        "a list is one sentence of its items",
        "<p>The pact covers:</p><ul><li>crisis management</li><li>cyber security</li></ul>"
        "<p>Talks go on.</p>",
        "The pact covers: crisis management; cyber security. Talks go on.",
    ),
    ("a heading before any text is skipped", "<h1>Live</h1><p>First words.</p>", "First words."),
    (
        "only whole paragraphs that fit",
        "<p>" + "a" * 200 + ".</p><p>" + "b" * 200 + ".</p>",
        "a" * 200 + ".",
    ),
    ("a first block too long is cut at a word", "<p>" + "word " * 100 + "</p>", None),
    (
        "inline tags run on",
        "<p>Heavy <b>rain</b> <a href='x'>expected</a>.</p>",
        "Heavy rain expected.",
    ),
    ("a line break separates", "<p>One<br>Two</p>", "One Two"),
]


@pytest.mark.parametrize(
    ("html", "expected"), [row[1:] for row in LEAD_ROWS], ids=[row[0] for row in LEAD_ROWS]
)
def test_summary_is_built_from_whole_blocks(html: str, expected: str | None) -> None:
    article = normalise(replace(WIRE_ITEM, content_html=html), WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert len(article.summary) <= SUMMARY_LIMIT
    if expected is None:
        assert article.summary == ("word " * 60).strip() + "…"
    else:
        assert article.summary == expected


def test_summaries_of_the_sample_wire_articles_never_glue_a_heading_on() -> None:
    """Every shipped wire article: its summary is its first paragraphs, each whole."""
    catalog = load_catalog(ROOT / "feeds")
    lines = tuple(line for desk in catalog.desks.values() for line in desk.bylines)
    inbox = sorted((ROOT / "feeds" / "inbox").rglob("*.txt"))
    assert len(inbox) >= 7
    for path in inbox:
        item = read_wire(path.name, path.read_bytes(), lines)
        article = normalise(item, catalog.sources["nym-wire"], catalog.desks, catalog.topics, NOW)
        blocks = list(text_blocks(article.content_html))
        headings = [i for i, (kind, _) in enumerate(blocks) if kind == "heading"]
        first_heading = headings[0] if headings else len(blocks)
        lead_texts = [text for kind, text in blocks[:first_heading] if kind == "text"]
        assert article.summary.startswith(lead_texts[0]), path.name
        assert all(text not in article.summary for kind, text in blocks if kind == "heading")
        assert article.summary.endswith((".", "!", "?", "…", '"', "”")), path.name
    seed = read_wire("seed.txt", (ROOT / "tests" / "wire" / "seed.txt").read_bytes(), lines)
    summary = normalise(seed, WIRE_SOURCE, DESKS, TOPICS, NOW).summary
    assert summary == (
        "The European Union and Canada are set to launch a new phase of their relationship "
        "with a landmark security and defense partnership, to be formalized at a high-level "
        "summit in Brussels on Monday. The move reflects both sides' concerns over growing "
        "global instability and shared strategic interests."
    )


def test_a_sources_summary_is_built_from_its_blocks_too() -> None:
    item = RawItem(
        guid="g",
        title="T",
        summary_html="<h3>Briefly</h3><p>Rates held.</p><h3>More</h3><p>Later.</p>",
        content_html="<p>The long story.</p>",
    )
    assert normalise(item, FEED_SOURCE, DESKS, TOPICS, NOW).summary == "Rates held."


# --------------------------------------------------------------------------- ceilings


def test_every_stored_text_has_its_ceiling() -> None:
    """A giant item keeps its identity and a bounded size, whatever it sent."""
    giant = RawItem(
        guid="giant",
        url="https://example.org/giant",
        title="T" * 200 + " " + "<b>x</b>" * 1_000_000,
        title_html=True,
        summary_html="<p>" + "summary " * 100_000 + "</p>",
        content_html="<p>" + "content &amp; " * 500_000 + "</p>" * 3 + "<p>tail</p>",
        author="A" * 150 + " " + "B" * 10_000,
        correction=None,
    )
    article = normalise(giant, FEED_SOURCE, DESKS, TOPICS, NOW)
    assert len(article.title) <= TITLE_LIMIT and article.title.startswith("T" * 200)
    assert article.author is not None and len(article.author) <= AUTHOR_LIMIT
    assert len(article.summary) <= SUMMARY_LIMIT
    assert CONTENT_LIMIT - 1024 < len(article.content_html.encode()) <= CONTENT_LIMIT
    assert article.content_html.startswith("<p>content &amp; content &amp; ")
    assert article.content_html.endswith("</p><p>…</p>")
    assert sanitise_html(article.content_html, None) == article.content_html  # still whole
    wire = replace(WIRE_ITEM, correction="Fixed. " * 1000)
    corrected = normalise(wire, WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert corrected.correction is not None and len(corrected.correction) <= CORRECTION_LIMIT


def test_content_is_cut_between_elements_and_closed() -> None:
    html = "".join(f"<p><b>paragraph {n}</b> text</p>" for n in range(100))
    cut = bounded_html(html, 500)
    assert len(cut.encode()) <= 500 and cut.endswith("<p>…</p>")
    assert cut.startswith("<p><b>paragraph 0</b> text</p>")
    assert sanitise_html(cut, None) == cut
    one_paragraph = "<p>" + "words &amp; more " * 1000 + "</p>"
    cut = bounded_html(one_paragraph, 600)  # cut inside the text, never inside "&amp;"
    assert 500 < len(cut.encode()) <= 600 and sanitise_html(cut, None) == cut
    deep = "<blockquote>" * 300 + "x" * 2000 + "</blockquote>" * 300
    assert len(bounded_html(sanitise_html(deep, None), 1000).encode()) <= 1000
    assert bounded_html("<p>short</p>", 500) == "<p>short</p>"


# --------------------------------------------------------------------------- attribution


def test_credit_goes_to_the_author_else_the_desk_else_the_feed() -> None:
    own = normalise(replace(WIRE_ITEM, author="Jane Doe"), WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert own.author == "Jane Doe"
    assert normalise(WIRE_ITEM, WIRE_SOURCE, DESKS, TOPICS, NOW).author == "NYM Desk"
    # no desk line: the source's desk, by its title
    desk_less = normalise(replace(WIRE_ITEM, byline=None), WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert desk_less.author == "World"
    upstream = Origin(title="Upstream <i>Daily</i>", link="https://up.example/", id="urn:up")
    item = RawItem(guid="g", title="T", content_html="<p>x</p>", origin=upstream)
    assert normalise(item, FEED_SOURCE, DESKS, TOPICS, NOW).author == "Upstream Daily"
    no_title = replace(item, origin=Origin(link="https://up.example/"))
    titled = replace(FEED_SOURCE, title="World RSS")
    assert normalise(no_title, titled, DESKS, TOPICS, NOW).author == "World RSS"
    assert normalise(no_title, FEED_SOURCE, DESKS, TOPICS, NOW).author == "world-rss"
    for article in (own, desk_less, normalise(no_title, FEED_SOURCE, DESKS, TOPICS, NOW)):
        assert article.author != "feedsvc"


def test_origin_is_kept_for_feed_items_with_checked_links() -> None:
    origin = Origin(title="Up <b>News</b>", link="javascript:alert(1)", id="urn:up:feed")
    item = RawItem(guid="g", title="T", content_html="<p>x</p>", origin=origin)
    article = normalise(item, FEED_SOURCE, DESKS, TOPICS, NOW)
    assert article.origin == Origin(title="Up News", link=None, id="urn:up:feed")
    changed = normalise(
        replace(item, origin=replace(origin, title="Other")), FEED_SOURCE, DESKS, TOPICS, NOW
    )
    assert changed.fingerprint != article.fingerprint  # atom:source is seen by readers
    wire = normalise(replace(WIRE_ITEM, origin=origin), WIRE_SOURCE, DESKS, TOPICS, NOW)
    assert wire.origin is None  # the newsroom's own story has no upstream feed


def test_correction_is_plain_text_and_part_of_the_fingerprint() -> None:
    plain = normalise(WIRE_ITEM, WIRE_SOURCE, DESKS, TOPICS, NOW)
    noted = normalise(
        replace(WIRE_ITEM, correction="  An earlier   version <b>erred</b>. "),
        WIRE_SOURCE,
        DESKS,
        TOPICS,
        NOW,
    )
    assert plain.correction is None
    assert noted.correction == "An earlier version <b>erred</b>."  # text, escaped when shown
    assert noted.fingerprint != plain.fingerprint
