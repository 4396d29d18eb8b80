"""The public HTML pages: the index, a desk's or a topic's listing, and one page per story.

Pure functions of data and a base URL, as ``render.py`` is for feeds: no
request, no clock, no database, no Flask. Publishing renders the index and
each desk's and topic's first page ahead of time (``publish_pages``), the way
it renders feeds, so a request for them is a lookup; older pages, story pages
and search results are rendered by the web tier and kept per publish
generation. ``site`` is
the catalogue snapshot publishing shares with the web tier
(``publish.site_snapshot``): desks, topics and sources by id.

A story page says who wrote the story and where it comes from: the author
the normaliser credited, the desk, and for a third-party story the upstream
feed's name and the original's link. Its ``<link rel="canonical">`` and
``og:url`` are ``Article.link``: the original for a third-party story, the
page itself for the newsroom's own. The ``NewsArticle`` JSON-LD goes through
Jinja's ``tojson``, which escapes ``<``, ``>``, ``&`` and ``'``, so no text of
a story can close its ``<script>`` element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from feedsvc.dates import format_utc, utc
from feedsvc.model import Article, Retraction
from feedsvc.render import FORMATS, MEDIA_TYPES
from feedsvc.urls import story_page_url

__all__ = [
    "FORMAT_NAMES",
    "INDEX_PATH",
    "PAGE_SIZE",
    "feed_links",
    "index_page",
    "listing_page",
    "listing_path",
    "render_page",
    "retraction_notice",
    "search_page",
    "source_name",
    "story_context",
    "story_page",
]

FORMAT_NAMES: Mapping[str, str] = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}

_ENVIRONMENT = Environment(
    loader=PackageLoader("feedsvc", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)
_ENVIRONMENT.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}

Site = Mapping[str, Any]
"""The catalogue snapshot: ``{"desks": [...], "topics": [...], "sources": [...]}``."""


def render_page(template: str, **context: Any) -> str:
    """One page from its template; every value is HTML-escaped unless marked safe."""
    return _ENVIRONMENT.get_template(template).render(**context)


def feed_links(path: str, title: str) -> list[dict[str, str]]:
    """The three formats of the feed at ``path`` ("feeds/desks/nym"), for links on a page."""
    return [
        {
            "href": f"/{path}.{fmt}",
            "type": MEDIA_TYPES[fmt].split(";")[0],
            "title": f"{title} ({FORMAT_NAMES[fmt]})",
            "format": FORMAT_NAMES[fmt],
        }
        for fmt in FORMATS
    ]


def story_page(article: Article, site: Site, base_url: str) -> str:
    """The HTML page of one story (``/articles/<id>``), links made on ``base_url``."""
    return render_page("article.html", **story_context(article, site, base_url))


def story_context(article: Article, site: Site, base_url: str) -> dict[str, Any]:
    """What the story page shows, worked out once: names, links, dates, metadata."""
    desks = _by_id(site, "desks")
    topics = _by_id(site, "topics")
    desk = {"id": article.desk, "title": desks.get(article.desk, {}).get("title", article.desk)}
    shown_topics = [
        {"id": topic, "title": topics.get(topic, {}).get("title", topic)}
        for topic in article.topics
    ]
    named = source_name(article, site)
    third_party = named is not None
    page = story_page_url(base_url, article.id)
    canonical = article.link(base_url)
    publisher = named or desk["title"]
    links = feed_links(f"feeds/desks/{article.desk}", desk["title"])
    return {
        "title": article.title,
        "story": article,
        "desk": desk,
        "topics": shown_topics,
        "third_party": third_party,
        "source_name": named,
        "original": article.url if third_party else None,
        "canonical": canonical,
        "published": _when(article.published),
        "updated": _when(article.updated) if article.updated != article.published else None,
        "links": links,
        "autodiscovery": links,
        "open_graph": _open_graph(article, canonical, desk["title"], shown_topics),
        "json_ld": _news_article(
            article, canonical, page, desk["title"], shown_topics, publisher, named
        ),
    }


def source_name(article: Article, site: Site) -> str | None:
    """The name of a third-party story's source, or None for the newsroom's own story.

    The upstream feed's own title, else the source's catalogue title, else its
    id; a source no longer in the catalogue counts as third-party when the
    story has a URL of its own (wire stories never do).
    """
    source = _by_id(site, "sources").get(article.source, {})
    if source.get("kind", "feed" if article.url else "files") != "feed":
        return None
    origin = article.origin
    return (origin.title if origin else None) or source.get("title") or article.source


def retraction_notice(retraction: Retraction) -> str:
    """The short plain text a retracted story's page answers with (410 Gone)."""
    when = format_utc(retraction.at)
    if retraction.reason:
        return f"this story was retracted on {when}: {retraction.reason}"
    if retraction.by == "withdrawn":
        return f"this story was withdrawn on {when}: no source carries it any more"
    return f"this story was retracted on {when}"


def _by_id(site: Site, kind: str) -> dict[str, Mapping[str, Any]]:
    return {entry["id"]: entry for entry in site.get(kind, ())}


def _when(moment: datetime) -> dict[str, str]:
    """A time as the page shows it and as machines read it."""
    moment = utc(moment)
    return {"iso": format_utc(moment), "text": moment.strftime("%Y-%m-%d %H:%M UTC")}


def _open_graph(
    article: Article, canonical: str, section: str, topics: Sequence[Mapping[str, str]]
) -> list[tuple[str, str]]:
    """Open Graph ``property``/``content`` pairs, in the order the protocol lists them."""
    tags = [
        ("og:type", "article"),
        ("og:title", article.title),
        ("og:url", canonical),
    ]
    if article.summary:
        tags.append(("og:description", article.summary))
    if article.image:
        tags.append(("og:image", article.image))
    if article.language:
        language, _, region = article.language.partition("-")
        tags.append(("og:locale", f"{language}_{region.upper()}" if region else language))
    tags += [
        ("article:published_time", format_utc(utc(article.published))),
        ("article:modified_time", format_utc(utc(article.updated))),
        ("article:section", section),
    ]
    tags += [("article:tag", topic["title"]) for topic in topics]
    return tags


def _news_article(
    article: Article,
    canonical: str,
    page: str,
    section: str,
    topics: Sequence[Mapping[str, str]],
    publisher: str,
    source: str | None,
) -> dict[str, Any]:
    """schema.org ``NewsArticle``: a desk or a feed credited is an Organization, not a Person."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "url": canonical,
        "mainEntityOfPage": page,
        "datePublished": format_utc(utc(article.published)),
        "dateModified": format_utc(utc(article.updated)),
        "articleSection": section,
        "publisher": {"@type": "Organization", "name": publisher},
    }
    if article.summary:
        data["description"] = article.summary
    if article.author:
        kind = "Organization" if article.author in {section, source} else "Person"
        data["author"] = {"@type": kind, "name": article.author}
    if topics:
        data["keywords"] = [topic["title"] for topic in topics]
    if article.language:
        data["inLanguage"] = article.language
    if article.image:
        data["image"] = [article.image]
    if article.url and article.url != page:
        data["isBasedOn"] = article.url
    return data


# -- pages of many stories: built at publish time, or per request for older pages ----

PAGE_SIZE = 30
"""Stories on a desk's or topic's page, and on a page of search results."""
INDEX_LATEST = 3
"""Newest stories the index shows under each desk and topic."""
INDEX_PATH = "pages/index"
"""Where the published index is kept with the feeds (``publish``); never a URL."""


def listing_path(kind: str, ident: str) -> str:
    """Where the published first page of a desk or topic is kept: ``pages/desks/<id>``."""
    return f"pages/{kind}/{ident}"


def index_page(site: Site, latest: Mapping[str, Sequence[Article]]) -> str:
    """The index (``/``): every desk and topic with its newest stories and its feeds.

    ``latest`` holds each listing's newest ``INDEX_LATEST`` by key (``desks/<id>``).
    No totals: counting a listing is a walk over all of it, which neither a request
    nor a one-story publish should pay; the feeds and the "older" pages are the archive.
    """
    sections = []
    for kind in ("desks", "topics"):
        for entry in site.get(kind, ()):
            sections.append(
                {
                    "kind": kind,
                    "id": entry["id"],
                    "title": entry["title"],
                    "description": entry.get("description") or "",
                    "latest": list(latest.get(f"{kind}/{entry['id']}", ()))[:INDEX_LATEST],
                    "links": feed_links(f"feeds/{kind}/{entry['id']}", entry["title"]),
                }
            )
    autodiscovery = feed_links("feeds/all", "All articles")
    for section in sections:
        autodiscovery += section["links"]
    return render_page(
        "index.html",
        title="feedsvc",
        sections=sections,
        all_links=feed_links("feeds/all", "All articles"),
        autodiscovery=autodiscovery,
    )


def listing_page(
    site: Site, kind: str, entry: Mapping[str, Any], articles: Sequence[Article], older: str | None
) -> str:
    """A desk's or topic's page: ``articles`` (one page, newest first), and the link to
    the next older page when there is one (``older``: its cursor)."""
    links = feed_links(f"feeds/{kind}/{entry['id']}", entry["title"])
    return render_page(
        "listing.html",
        title=entry["title"],
        description=entry.get("description") or "",
        articles=[(article, source_name(article, site)) for article in articles],
        links=links,
        autodiscovery=links,
        older=older,
        here=f"/{kind}/{entry['id']}",
    )


def search_page(
    site: Site, query: str, articles: Sequence[Article] | None, older: str | None
) -> str:
    """``/search``: the form, and when something was asked (``articles`` not None) what
    was found, newest first, with the link to older matches (``older``: its cursor)."""
    links = feed_links("feeds/all", "All articles")
    return render_page(
        "search.html",
        title=f"Search: {query}" if query else "Search",
        query=query,
        articles=None
        if articles is None
        else [(article, source_name(article, site)) for article in articles],
        older=older,
        links=links,
        autodiscovery=links,
    )
