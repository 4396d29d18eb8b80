"""Story pages: what ``feedsvc.pages`` renders, what ``/articles/<id>`` answers, and a browser.

Fields the store does not keep yet (image, correction, origin, retraction:
the stories branch persists them) are tested on records built directly, the
way the store will hand them over; everything else goes through the real
pipeline, store and app. The browser test drives Debian's headless Chromium
with Playwright, as ``test_admin_pages`` does, and is skipped without it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient

from admin_support import LiveApp
from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.model import Article, Origin, Retraction, Validators
from feedsvc.pages import retraction_notice, story_page
from feedsvc.publish import Publisher
from feedsvc.store import Store
from feedsvc.web import create_app
from servers import closed_port
from test_admin_pages import chromium, chromium_page

BASE = "https://news.example/"
SITE = {
    "desks": [{"id": "nym", "title": "NYM Desk", "description": ""}],
    "topics": [{"id": "security", "title": "Security & Defence", "description": ""}],
    "sources": [
        {"id": "world-rss", "title": "World (catalogue)", "kind": "feed"},
        {"id": "nym-wire", "title": None, "kind": "files"},
    ],
}
THIRD_PARTY = Article(
    id="3f1c2a9b8d7e6f5a4b3c2d1e",
    source="world-rss",
    guid="https://world.example/2025/06/23/summit",
    url="https://world.example/2025/06/23/summit",
    title="Leaders agree </script><script>alert('x')</script> & more",
    summary="Allies commit to a new target.",
    content_html="<p>Allies commit to a new target.</p>",
    author="Jane Doe",
    desk="nym",
    topics=("security",),
    published=datetime(2025, 6, 23, 19, 9, tzinfo=UTC),
    updated=datetime(2025, 6, 24, 8, 0, tzinfo=UTC),
    language="en-gb",
    image="https://img.example/summit.jpg",
    correction="An earlier version <b>misnamed</b> the host.",
    origin=Origin(title="World News", link="https://world.example/", id="urn:world"),
)
WIRE = Article(
    id="0a1b2c3d4e5f60718293a4b5",
    source="nym-wire",
    guid="000_summit.txt",
    url=None,
    title="Council adopts sanctions package",
    summary="The package targets shipping.",
    content_html="<p>The package targets shipping.</p>",
    author="NYM Desk",
    desk="nym",
    topics=(),
    published=datetime(2025, 6, 23, 15, 0, tzinfo=UTC),
    updated=datetime(2025, 6, 23, 15, 0, tzinfo=UTC),
    language=None,
)


def _document(page: str) -> Any:
    return lxml.html.fromstring(page)


def _json_ld(doc: Any) -> dict[str, Any]:
    (script,) = doc.xpath("//script")  # the only script: nothing broke out of it
    assert script.get("type") == "application/ld+json"
    data: dict[str, Any] = json.loads(script.text)
    return data


def _meta(doc: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for meta in doc.xpath("//meta[@property]"):
        found.setdefault(meta.get("property"), []).append(meta.get("content"))
    return found


def test_a_third_party_story_names_its_source_and_links_the_original() -> None:
    doc = _document(story_page(THIRD_PARTY, SITE, BASE))
    assert doc.xpath("//link[@rel='canonical']/@href") == [THIRD_PARTY.url]
    assert doc.xpath("//h1")[0].text_content() == THIRD_PARTY.title
    assert doc.get_element_by_id("source").text_content().startswith("From World News")
    assert doc.get_element_by_id("original").get("href") == THIRD_PARTY.url
    assert doc.get_element_by_id("author").text_content() == "Jane Doe"
    assert doc.get_element_by_id("desk").get("href") == "/desks/nym"
    assert doc.xpath("//figure/img/@src") == [THIRD_PARTY.image]
    assert doc.xpath("//article/@lang") == ["en-gb"]
    note = doc.get_element_by_id("correction")
    assert note.text_content() == "Correction: An earlier version <b>misnamed</b> the host."
    assert note.xpath(".//b") == []  # shown as text
    assert [a.get("href") for a in doc.xpath("//p[@id='topics']/a")] == ["/topics/security"]
    alternates = doc.xpath("//link[@rel='alternate']/@href")
    assert {"/feeds/desks/nym.rss", "/feeds/desks/nym.atom", "/feeds/desks/nym.json"} <= set(
        alternates
    )
    meta = _meta(doc)
    assert meta["og:type"] == ["article"]
    assert meta["og:title"] == [THIRD_PARTY.title]
    assert meta["og:url"] == [THIRD_PARTY.url]
    assert meta["og:image"] == [THIRD_PARTY.image]
    assert meta["og:locale"] == ["en_GB"]
    assert meta["article:published_time"] == ["2025-06-23T19:09:00Z"]
    assert meta["article:modified_time"] == ["2025-06-24T08:00:00Z"]
    assert meta["article:section"] == ["NYM Desk"]
    assert meta["article:tag"] == ["Security & Defence"]
    assert _json_ld(doc) == {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": THIRD_PARTY.title,
        "url": THIRD_PARTY.url,
        "mainEntityOfPage": BASE + "articles/" + THIRD_PARTY.id,
        "datePublished": "2025-06-23T19:09:00Z",
        "dateModified": "2025-06-24T08:00:00Z",
        "articleSection": "NYM Desk",
        "publisher": {"@type": "Organization", "name": "World News"},
        "description": THIRD_PARTY.summary,
        "author": {"@type": "Person", "name": "Jane Doe"},
        "keywords": ["Security & Defence"],
        "inLanguage": "en-gb",
        "image": [THIRD_PARTY.image],
        "isBasedOn": THIRD_PARTY.url,
    }


def test_the_json_ld_cannot_be_closed_by_a_storys_text() -> None:
    page = story_page(THIRD_PARTY, SITE, BASE)
    assert page.count("</script>") == 1
    assert "<script>alert" not in page
    assert _json_ld(_document(page))["headline"] == THIRD_PARTY.title


def test_a_wire_story_is_its_own_canonical_page_credited_to_its_desk() -> None:
    doc = _document(story_page(WIRE, SITE, BASE))
    page = BASE + "articles/" + WIRE.id
    assert doc.xpath("//link[@rel='canonical']/@href") == [page]
    assert _meta(doc)["og:url"] == [page]
    assert doc.xpath("//*[@id='source']") == []  # the newsroom's own story
    assert doc.xpath("//*[@id='correction']") == [] and doc.xpath("//figure") == []
    data = _json_ld(doc)
    assert data["url"] == data["mainEntityOfPage"] == page
    assert data["author"] == {"@type": "Organization", "name": "NYM Desk"}
    assert data["publisher"] == {"@type": "Organization", "name": "NYM Desk"}
    assert "isBasedOn" not in data and "image" not in data
    assert "updated" not in doc.get_element_by_id("desk").getparent().text_content()


def test_without_an_upstream_title_the_catalogue_names_the_source() -> None:
    untitled = dataclasses.replace(THIRD_PARTY, origin=None)
    doc = _document(story_page(untitled, SITE, BASE))
    assert doc.get_element_by_id("source").text_content().startswith("From World (catalogue)")
    gone_source = dataclasses.replace(untitled, source="removed-feed")
    doc = _document(story_page(gone_source, SITE, BASE))
    assert doc.get_element_by_id("source").text_content().startswith("From removed-feed")


@pytest.mark.parametrize(
    ("retraction", "expected"),
    [
        (
            Retraction(datetime(2025, 7, 1, 9, 30, tzinfo=UTC), "legal request"),
            "this story was retracted on 2025-07-01T09:30:00Z: legal request",
        ),
        (
            Retraction(datetime(2025, 7, 1, 9, 30, tzinfo=UTC), None, "withdrawn"),
            "this story was withdrawn on 2025-07-01T09:30:00Z: no source carries it any more",
        ),
        (
            Retraction(datetime(2025, 7, 1, 9, 30, tzinfo=UTC)),
            "this story was retracted on 2025-07-01T09:30:00Z",
        ),
    ],
)
def test_retraction_notice(retraction: Retraction, expected: str) -> None:
    assert retraction_notice(retraction) == expected


# -- /articles/<id> ---------------------------------------------------------------


def _wire_story(store: Store) -> Article:
    (story,) = [a for a in store.list_articles(limit=None) if a.guid.startswith("000_")]
    return story


def test_every_headline_links_to_a_story_page_that_answers(
    client: FlaskClient, published: Store
) -> None:
    ids = {a.id for a in published.list_articles(limit=None)}
    linked: set[str] = set()
    for page in ("/", "/desks/nym", "/desks/europe", "/topics/security"):
        html = client.get(page).get_data(as_text=True)
        linked |= set(re.findall(r'href="/articles/([0-9a-f]+)"', html))
    assert linked == ids
    for ident in linked:
        response = client.get(f"/articles/{ident}")
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_story_page_is_made_on_the_requests_checked_base(
    client: FlaskClient, published: Store
) -> None:
    story = _wire_story(published)
    doc = _document(client.get(f"/articles/{story.id}").get_data(as_text=True))
    page = f"http://localhost/articles/{story.id}"
    assert doc.xpath("//link[@rel='canonical']/@href") == [page]
    assert doc.xpath("//h1")[0].text_content() == story.title
    assert doc.get_element_by_id("author").text_content() == "NYM Desk"
    content = doc.xpath("//div[@class='content']")[0].text_content()
    assert "Canadian Prime Minister Mark Carney" in content
    assert client.head(f"/articles/{story.id}").status_code == 200


@pytest.mark.parametrize(
    "ident", ["0123456789abcdef01234567", "<img src=x onerror=alert(1)>", "x" * 5000]
)
def test_an_unknown_story_is_a_short_plain_404(client: FlaskClient, ident: str) -> None:
    response = client.get(f"/articles/{ident}")
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data(as_text=True).startswith("unknown article")
    assert len(response.data) < 120


class RetractingStore(Store):
    """The real store, with one story handed back retracted, as the stories branch will.

    (Until then the store keeps no retraction; the record is the stored one, replaced.)
    """

    retracted: dict[str, Retraction]  # set by the test

    def article(self, article_id: str) -> Article | None:
        found = super().article(article_id)
        if found is None or article_id not in self.retracted:
            return found
        return dataclasses.replace(found, retracted=self.retracted[article_id])


def test_a_retracted_story_is_410_gone_with_its_reason(
    settings: Settings, published: Store, db_url: str
) -> None:
    story = _wire_story(published)
    store = RetractingStore.open(db_url)
    store.retracted = {story.id: Retraction(datetime(2025, 7, 1, tzinfo=UTC), "legal\nrequest")}
    app = create_app({"TESTING": True, "SETTINGS": settings, "STORE": store})
    try:
        response = app.test_client().get(f"/articles/{story.id}")
    finally:
        store.close()
    assert response.status_code == 410
    assert response.mimetype == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data(as_text=True) == (
        "this story was retracted on 2025-07-01T00:00:00Z: legal request\n"
    )


# -- a real browser -------------------------------------------------------------------


def _browser_app(settings: Settings, store: Store, port: int) -> Flask:
    served = dataclasses.replace(settings, port=port, allowed_hosts=())
    return create_app({"TESTING": True, "SETTINGS": served, "STORE": store})


def test_story_pages_in_a_real_browser(settings: Settings, published: Store, now: datetime) -> None:
    """Rendered under the CSP without a console error; the JSON-LD parses as the story."""
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    hostile = dataclasses.replace(
        _wire_story(published),
        id="feedfacefeedfacefeedface",
        guid="hostile.txt",
        title="Quote \" </script><script>alert(1)</script> <!-- & more",
        content_html='<p>Body with <img src="https://img.invalid/x.png" alt="x"></p>',
        fingerprint="hostile",
        published=now - timedelta(days=1),
        updated=now - timedelta(days=1),
    )
    result = published.save_batch("nym-wire", [hostile], Validators(), 200, now)
    catalog = load_catalog(settings.feeds_dir)  # the desk page is built when publishing
    Publisher(published, catalog, base_url=None, feed_size=50).publish(result.touched, now)
    problems: list[str] = []
    port = closed_port()
    app = _browser_app(settings, published, port)
    with LiveApp(app, port) as live, chromium_page(executable, problems) as page:
        # the image's host does not resolve: block it, so the only errors are the page's own
        page.route("https://img.invalid/**", lambda route: route.fulfill(status=204))

        page.goto(f"{live.url}/desks/nym")
        page.click(f"a[href='/articles/{hostile.id}']")
        expect(page).to_have_url(f"{live.url}/articles/{hostile.id}")
        expect(page.locator("h1")).to_have_text(hostile.title)
        expect(page.locator("#author")).to_have_text("NYM Desk")
        scripts = page.locator("script").evaluate_all(
            "els => els.map(e => [e.type, e.textContent])"
        )
        assert len(scripts) == 1 and scripts[0][0] == "application/ld+json"
        data = json.loads(scripts[0][1])
        assert data["@type"] == "NewsArticle"
        assert data["headline"] == hostile.title
        assert data["url"] == data["mainEntityOfPage"] == f"{live.url}/articles/{hostile.id}"
        assert data["datePublished"] == "2025-06-30T12:00:00Z"
        assert data["author"] == {"@type": "Organization", "name": "NYM Desk"}
        canonical = page.locator("link[rel=canonical]").get_attribute("href")
        assert canonical == f"{live.url}/articles/{hostile.id}"
        colour = page.locator("body").evaluate("e => getComputedStyle(e).color")
        assert colour == "rgb(34, 34, 34)"  # the inline style applied under the CSP

        for story in published.list_articles(limit=None):
            page.goto(f"{live.url}/articles/{story.id}")
            expect(page.locator("h1")).to_have_text(story.title)
            text = page.locator("script[type='application/ld+json']").text_content()
            assert json.loads(text or "")["headline"] == story.title
    assert problems == []


def test_listings_name_the_source_of_third_party_stories(
    app: Flask, settings: Settings, published: Store, now: datetime
) -> None:
    """The sample's example-world feed (no catalogue title): named by its id on the desk page
    (built when the batch is published, as in the pipeline)."""
    story = dataclasses.replace(
        THIRD_PARTY,
        source="example-world",
        title="A story from a feed",
        correction=None,
        image=None,
        origin=None,
        fingerprint="x",
    )
    result = published.save_batch("example-world", [story], Validators(), 200, now)
    catalog = load_catalog(settings.feeds_dir)
    Publisher(published, catalog, base_url=None, feed_size=50).publish(result.touched, now)
    app.extensions["feedsvc.cache"].check_every = 0.0
    client = app.test_client()
    html = client.get("/desks/nym").get_data(as_text=True)
    assert 'A story from a feed</a></h2>\n<p class="meta">' in html
    assert 'from <span class="source">example-world</span>' in html
    assert html.count('class="source"') == 1  # the wire stories are the newsroom's own
    page = _document(client.get(f"/articles/{story.id}").get_data(as_text=True))
    assert page.get_element_by_id("source").text_content().startswith("From example-world")
