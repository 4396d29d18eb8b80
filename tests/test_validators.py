"""Every published feed against its format's own rules.

Atom against the RFC 4287 RELAX NG schema (tests/schemas/atom.rng, generated
from the RFC's grammar), JSON Feed against a JSON Schema written from the 1.1
specification, RSS against the RSS 2.0 rules the W3C validator enforces. Each
check is first shown to reject a broken document, so it cannot pass vacuously.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from functools import cache
from pathlib import Path

import atoma
import jsonschema
import pytest
from lxml import etree

from feedsvc.render import entry_id, render
from feedsvc.store import Store

SCHEMAS = Path(__file__).parent / "schemas"
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
TOMBSTONE = "{http://purl.org/atompub/tombstones/1.0}"


@cache
def atom_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMAS / "atom.rng")))


@cache
def json_feed_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "jsonfeed-1.1.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@cache
def tombstone_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMAS / "tombstones.rng")))


def atom_errors(body: bytes) -> list[str]:
    """RFC 4287's grammar, and RFC 6721's for every tombstone (before the first entry)."""
    schema = atom_schema()
    root = etree.fromstring(body)
    valid = schema.validate(root)
    errors = [] if valid else [str(error) for error in schema.error_log]
    seen_entry = False
    for child in root:
        if child.tag == ATOM + "entry":
            seen_entry = True
        elif child.tag == TOMBSTONE + "deleted-entry":
            if seen_entry:
                errors.append("a deleted-entry after an entry")
            if not tombstone_schema().validate(child):
                errors.extend(str(error) for error in tombstone_schema().error_log)
    return errors


def json_feed_errors(body: bytes) -> list[str]:
    return [error.message for error in json_feed_validator().iter_errors(json.loads(body))]


def rss_errors(body: bytes) -> list[str]:
    """The RSS 2.0 rules a validator checks (required elements, dates, author, self link)."""
    errors: list[str] = []
    root = etree.fromstring(body)
    if root.tag != "rss" or root.get("version") != "2.0":
        return ["root is not <rss version='2.0'>"]
    channel = root.find("channel")
    if channel is None:
        return ["no channel"]
    for name in ("title", "link", "description"):
        if not (channel.findtext(name) or "").strip():
            errors.append(f"channel without {name}")
    selfs = [link for link in channel.findall(ATOM + "link") if link.get("rel") == "self"]
    if len(selfs) != 1 or selfs[0].get("type") != "application/rss+xml":
        errors.append("channel needs one atom:link rel=self type=application/rss+xml")
    for date in [
        channel.findtext("lastBuildDate"),
        *(i.findtext("pubDate") for i in channel.iter("item")),
    ]:
        if not _rfc822_numeric(date):
            errors.append(f"date not RFC 822 with a numeric zone: {date!r}")
    ttl = channel.findtext("ttl")
    if ttl is not None and not ttl.isdigit():
        errors.append("ttl is not a whole number of minutes")
    guids: set[str] = set()
    for item in channel.iter("item"):
        if not (item.findtext("title") or item.findtext("description")):
            errors.append("item without title or description")
        guid = item.find("guid")
        if guid is None or not (guid.text or "").strip():
            errors.append("item without guid")
        else:
            if guid.text in guids:
                errors.append(f"duplicate guid {guid.text}")
            guids.add(guid.text or "")
            permalink = guid.get("isPermaLink", "true") == "true"
            if permalink and not (guid.text or "").startswith(("http://", "https://")):
                errors.append("isPermaLink guid that is not a URL")
        author = item.findtext("author")
        if author is not None and "@" not in author:
            errors.append("author that is not an e-mail address (names go in dc:creator)")
        if item.find(CONTENT + "encoded") is None:
            errors.append("item without content:encoded")
    return errors


def _rfc822_numeric(date: str | None) -> bool:
    try:
        parsed = parsedate_to_datetime(date or "")
    except (TypeError, ValueError):
        return False
    return parsed.tzinfo is not None and date is not None and date[-5] in "+-"


def test_the_checks_reject_broken_documents() -> None:
    assert atom_errors(
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title></feed>"
    )  # no id, no updated
    feed = (
        b"<feed xmlns='http://www.w3.org/2005/Atom' xmlns:at='http://purl.org/atompub/tombstones/1.0'>"
        b"<id>urn:f</id><title>t</title><updated>2025-01-01T00:00:00Z</updated>"
        b"<author><name>a</name></author>%s</feed>"
    )
    entry = b"<entry><id>urn:e</id><title>e</title><updated>2025-01-01T00:00:00Z</updated></entry>"
    tombstone = b"<at:deleted-entry ref='urn:x' when='2025-01-02T00:00:00Z'/>"
    assert not atom_errors(feed % (tombstone + entry))
    assert atom_errors(feed % (entry + tombstone))  # after the first entry: not RFC 4287
    assert atom_errors(feed % b"<at:deleted-entry ref='urn:x'/>")  # no when
    assert json_feed_errors(b'{"version": "https://jsonfeed.org/version/1.1", "items": [{}]}')
    assert rss_errors(
        b"<rss version='2.0'><channel><title>t</title><item><author>Jane</author>"
        b"<pubDate>yesterday</pubDate></item></channel></rss>"
    )


def feeds_of(store: Store) -> dict[str, bytes]:
    return {feed.path: feed.body for feed in store.load_feeds()}


def test_every_published_atom_feed_is_valid_rfc4287(published: Store) -> None:
    bodies = {p: b for p, b in feeds_of(published).items() if p.endswith(".atom")}
    assert len(bodies) == 7
    for path, body in bodies.items():
        assert atom_errors(body) == [], path


def test_every_published_json_feed_is_valid_1_1(published: Store) -> None:
    bodies = {p: b for p, b in feeds_of(published).items() if p.endswith(".json")}
    assert len(bodies) == 7
    for path, body in bodies.items():
        assert json_feed_errors(body) == [], path


def test_every_published_rss_feed_follows_rss_2(published: Store) -> None:
    bodies = {p: b for p, b in feeds_of(published).items() if p.endswith(".rss")}
    assert len(bodies) == 7
    for path, body in bodies.items():
        assert rss_errors(body) == [], path


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_served_feed_is_valid_too(client: object, fmt: str) -> None:
    body = client.get(f"/feeds/desks/nym.{fmt}").data  # type: ignore[attr-defined]
    check = {"rss": rss_errors, "atom": atom_errors, "json": json_feed_errors}[fmt]
    assert check(body) == []


def test_a_second_strict_reader_accepts_every_feed(published: Store) -> None:
    """atoma is a strict parser (it raises where feedparser shrugs): every feed, every format."""
    expected = {entry_id(a) for a in published.list_articles(limit=None)}
    bodies = feeds_of(published)
    for path, body in bodies.items():
        if path.endswith(".rss"):
            ids = {item.guid for item in atoma.parse_rss_bytes(body).items}
        elif path.endswith(".atom"):
            ids = {entry.id_ for entry in atoma.parse_atom_bytes(body).entries}
        elif path.endswith(".json"):
            ids = {item.id_ for item in atoma.parse_json_feed(json.loads(body)).items}
        else:
            continue
        assert ids and ids <= expected, path


def test_every_story_field_keeps_the_feeds_valid() -> None:
    """atom:source of an upstream feed, a correction, page links, dcterms:modified: still valid."""
    from test_render import ARTICLES, BASE, SOURCE_TITLES, SPEC

    assert any(a.origin for a in ARTICLES) and any(a.correction for a in ARTICLES)
    assert any(a.url is None for a in ARTICLES)
    assert atom_errors(render(SPEC, ARTICLES, BASE, "atom", SOURCE_TITLES)) == []
    assert json_feed_errors(render(SPEC, ARTICLES, BASE, "json", SOURCE_TITLES)) == []
    rss = render(SPEC, ARTICLES, BASE, "rss", SOURCE_TITLES)
    assert rss_errors(rss) == []
    assert len(atoma.parse_rss_bytes(rss).items) == len(ARTICLES)
