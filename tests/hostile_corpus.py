"""A deterministic corpus of varied, often broken, feed documents for test_hostile.py.

``corpus()`` builds a few hundred documents from a fixed seed: every feed
format feedsvc reads (RSS 0.91, RSS 2.0, RSS 1.0/RDF, Atom 0.3, Atom 1.0),
in many encodings (UTF-8 with and without a BOM, UTF-16 in both byte orders,
Latin-1, Windows-1252, undeclared legacy bytes, declarations that lie about
the bytes), with extension namespaces (dc, content, media, itunes, georss,
slash), text in several scripts and hostile HTML, and one breakage each
(truncated, unescaped ``&``, unclosed tags, garbage bytes, nested CDATA, a
huge attribute, 10,000 nested elements, control characters, bad character
references). Format, encoding and breakage advance with co-prime strides, so
every pair of them occurs; the rest is drawn from one seeded RNG, so the
corpus is the same bytes on every run and a failure names a reproducible case.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

__all__ = ["BREAKAGES", "ENCODINGS", "FORMATS", "NAMESPACES", "Case", "corpus"]

SEED = 20250623
SIZE = 360

FORMATS = ("rss091", "rss20", "rdf", "atom03", "atom10")
ENCODINGS = (
    "utf-8",
    "utf-8-bom",
    "utf-8-undeclared",
    "utf-16",
    "utf-16-be-bom",
    "latin-1",
    "cp1252",
    "cp1252-undeclared",
    "declared-utf-8-bytes-latin-1",
    "declared-latin-1-bytes-utf-8",
    "bom-utf-8-declared-utf-16",
    "header-charset-conflict",
)
BREAKAGES = (
    "none",
    "truncated",
    "unescaped-ampersand",
    "unclosed-tags",
    "garbage-bytes",
    "nested-cdata",
    "huge-attribute",
    "deep-nesting",
    "control-characters",
    "bad-character-references",
    "markup-in-titles",
)
NAMESPACES: dict[str, str] = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "media": "http://search.yahoo.com/mrss/",
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "georss": "http://www.georss.org/georss",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
}

HUGE_ATTRIBUTE = 200_000
DEEP = 10_000

_WORDS = (
    "NATO",
    "security",
    "trade",
    "Café",
    "€uro",
    "“quoted”",
    "naïve",
    "Ελληνικά",
    "русский",
    "日本語",
    "العربية",
    "emoji 🙂",
    "a < b",
    "AT&T",
    "Zürich",
    "—",
    "…",
    "tariffs",
    "Kyiv",
    "data",
)
_HTML = (
    "<p>Plain <em>paragraph</em> with a <a href='/rel/link'>relative link</a>.</p>",
    "<p onclick='alert(1)'>handler</p><script>alert(1)</script>",
    "<a href='jav&#x09;ascript:alert(1)'>tab</a><a href='java\nscript:alert(2)'>newline</a>",
    "<img src='x.png' onerror='alert(1)' srcset='javascript:alert(2) 2x'>",
    "<iframe src='https://evil.example/'></iframe><form action='/x'><input name='q'></form>",
    "<base href='https://evil.example/'><meta http-equiv='refresh' content='0;url=https://e/'>",
    "<svg onload='alert(1)'><a xlink:href='javascript:alert(1)'>s</a></svg>",
    "<math><mi xlink:href='javascript:alert(1)'>m</mi></math>",
    "<p style='background:url(javascript:alert(1))'>styled</p>",
    "<a href='data:text/html;base64,PHNjcmlwdD4='>data</a>",
    "<ul><li>one<li>two</ul><table><tr><td>cell</table>",
    "<div>unclosed <b>bold <i>italic",
    "text &amp; entities &eacute; &#8212; &#x1F600; &nbsp;",
)
_DATES_RFC822 = (
    "Mon, 23 Jun 2025 19:09:00 +0000",
    "Mon, 23 Jun 2025 21:09:00 CEST",
    "23 Jun 2025 19:09 GMT",
    "Sat, 31 Feb 2025 10:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "not a date",
    "",
)
_DATES_ISO = (
    "2025-06-23T19:09:00Z",
    "2025-06-23T21:09:00+02:00",
    "2025-06-23T21:09:00",
    "2025-02-31T10:00:00Z",
    "9999-12-31T23:59:59Z",
    "0000-00-00T00:00:00Z",
    "",
)


@dataclass(frozen=True, slots=True)
class Case:
    """One corpus document and how it was made, so a failure names its recipe."""

    name: str
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


# --------------------------------------------------------------------------- text pieces


def _words(rng: random.Random, low: int = 2, high: int = 7) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))


def _text(rng: random.Random) -> str:
    """Words for an element's text content, XML-escaped."""
    return escape(_words(rng))


def _html(rng: random.Random) -> str:
    """An HTML fragment, escaped or in CDATA, as feeds carry it."""
    fragment = "".join(rng.choice(_HTML) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.5:
        return f"<![CDATA[{fragment}]]>"
    return escape(fragment)


def _url(rng: random.Random, n: int) -> str:
    path = rng.choice(("story", "a/b/c", "news item", "ünï", "x?utm_source=feed&id="))
    return escape(f"https://corpus.example/{path}{n}")


def _declared(namespaces: tuple[str, ...]) -> str:
    return "".join(f" xmlns:{prefix}={quoteattr(NAMESPACES[prefix])}" for prefix in namespaces)


def _extensions(rng: random.Random, namespaces: tuple[str, ...], n: int) -> str:
    """Namespaced elements for one item, in the namespaces the document declares."""
    parts = []
    for prefix in namespaces:
        if prefix == "dc":
            parts.append(f"<dc:creator>{_text(rng)}</dc:creator>")
            parts.append(f"<dc:subject>{rng.choice(('Security', 'Trade', 'x'))}</dc:subject>")
            parts.append(f"<dc:date>{rng.choice(_DATES_ISO)}</dc:date>")
        elif prefix == "content":
            parts.append(f"<content:encoded>{_html(rng)}</content:encoded>")
        elif prefix == "media":
            parts.append(
                f"<media:content url='https://img.example/{n}.jpg' type='image/jpeg'>"
                f"<media:title>{_text(rng)}</media:title></media:content>"
            )
        elif prefix == "itunes":
            parts.append(f"<itunes:author>{_text(rng)}</itunes:author>")
            parts.append("<itunes:duration>12:34</itunes:duration>")
        elif prefix == "georss":
            parts.append("<georss:point>50.85 4.35</georss:point>")
        elif prefix == "slash":
            parts.append(f"<slash:comments>{rng.randint(0, 99)}</slash:comments>")
    return "".join(parts)


# --------------------------------------------------------------------------- formats

_Builder = Callable[[random.Random, tuple[str, ...], int], str]


def _rss091(rng: random.Random, namespaces: tuple[str, ...], items: int) -> str:
    body = "".join(
        f"<item><title>{_text(rng)}</title><link>{_url(rng, n)}</link>"
        f"<description>{_html(rng)}</description>{_extensions(rng, namespaces, n)}</item>"
        for n in range(items)
    )
    return (
        f'<rss version="0.91"{_declared(namespaces)}><channel><title>{_text(rng)}</title>'
        "<link>https://corpus.example/</link><description>RSS 0.91</description>"
        f"<language>en</language>{body}</channel></rss>"
    )


def _rss20(rng: random.Random, namespaces: tuple[str, ...], items: int) -> str:
    body = "".join(
        f"<item><title>{_text(rng)}</title><link>{_url(rng, n)}</link>"
        f"<guid isPermaLink='{rng.choice(('true', 'false'))}'>{_url(rng, n)}</guid>"
        f"<pubDate>{rng.choice(_DATES_RFC822)}</pubDate>"
        f"<category>{rng.choice(('Security', 'Trade', 'Digital', 'Misc'))}</category>"
        f"<author>desk@corpus.example ({_text(rng)})</author>"
        f"<description>{_html(rng)}</description>{_extensions(rng, namespaces, n)}</item>"
        for n in range(items)
    )
    return (
        f'<rss version="2.0"{_declared(namespaces)}><channel><title>{_text(rng)}</title>'
        "<link>https://corpus.example/</link><description>RSS 2.0</description>"
        f"{body}</channel></rss>"
    )


def _rdf(rng: random.Random, namespaces: tuple[str, ...], items: int) -> str:
    namespaces = tuple(dict.fromkeys(("dc", *namespaces)))
    seq = "".join(f"<rdf:li rdf:resource={quoteattr(f'urn:n{n}')}/>" for n in range(items))
    body = "".join(
        f"<item rdf:about='urn:n{n}'><title>{_text(rng)}</title><link>{_url(rng, n)}</link>"
        f"<description>{_html(rng)}</description>{_extensions(rng, namespaces, n)}</item>"
        for n in range(items)
    )
    return (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        f'xmlns="http://purl.org/rss/1.0/"{_declared(namespaces)}>'
        f"<channel rdf:about='https://corpus.example/'><title>{_text(rng)}</title>"
        "<link>https://corpus.example/</link><description>RDF</description>"
        f"<items><rdf:Seq>{seq}</rdf:Seq></items></channel>{body}</rdf:RDF>"
    )


def _atom03(rng: random.Random, namespaces: tuple[str, ...], items: int) -> str:
    body = "".join(
        f"<entry><title>{_text(rng)}</title>"
        f"<link rel='alternate' type='text/html' href={quoteattr(_url(rng, n))}/>"
        f"<id>tag:corpus.example,2025:{n}</id><issued>{rng.choice(_DATES_ISO)}</issued>"
        f"<modified>{rng.choice(_DATES_ISO)}</modified>"
        f"<content type='text/html' mode='escaped'>{_html(rng)}</content>"
        f"{_extensions(rng, namespaces, n)}</entry>"
        for n in range(items)
    )
    return (
        f'<feed version="0.3" xmlns="http://purl.org/atom/ns#"{_declared(namespaces)}>'
        f"<title>{_text(rng)}</title>"
        "<link rel='alternate' type='text/html' href='https://corpus.example/'/>"
        f"<modified>2025-06-23T19:09:00Z</modified>{body}</feed>"
    )


def _atom10_content(rng: random.Random) -> str:
    kind = rng.choice(("html", "xhtml", "text"))
    if kind == "xhtml":
        return (
            "<content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>"
            f"<p>{_text(rng)}</p><script>alert(1)</script>"
            "<a href='javascript:alert(1)' onclick='x()'>j</a></div></content>"
        )
    return f"<content type='{kind}'>{_html(rng)}</content>"


def _atom10(rng: random.Random, namespaces: tuple[str, ...], items: int) -> str:
    body = "".join(
        f"<entry><title type='{rng.choice(('text', 'html'))}'>{_text(rng)}</title>"
        f"<link href={quoteattr(_url(rng, n))}/><id>urn:corpus:{rng.randint(0, 3)}:{n}</id>"
        f"<updated>{rng.choice(_DATES_ISO)}</updated>"
        f"<published>{rng.choice(_DATES_ISO)}</published>"
        f"<author><name>{_text(rng)}</name></author>"
        f"<category term='{rng.choice(('Security', 'Trade', 'x'))}'/>"
        f"<summary type='html'>{_html(rng)}</summary>{_atom10_content(rng)}"
        f"{_extensions(rng, namespaces, n)}</entry>"
        for n in range(items)
    )
    return (
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"{_declared(namespaces)}>'
        f"<title>{_text(rng)}</title><id>urn:corpus</id>"
        "<updated>2025-06-23T19:09:00Z</updated>"
        f"<link rel='alternate' href='https://corpus.example/'/>{body}</feed>"
    )


_BUILDERS: dict[str, _Builder] = {
    "rss091": _rss091,
    "rss20": _rss20,
    "rdf": _rdf,
    "atom03": _atom03,
    "atom10": _atom10,
}

# --------------------------------------------------------------------------- breakage


def _first_item_end(text: str) -> int:
    for tag in ("</item>", "</entry>"):
        at = text.find(tag)
        if at >= 0:
            return at
    return len(text) // 2


def _break_text(text: str, breakage: str, rng: random.Random) -> str:
    """Breakages that are best made on the text, before encoding."""
    at = _first_item_end(text)
    if breakage == "unescaped-ampersand":
        return text.replace("</title>", " Q&A & more &nbsp &#; &#xZZ;</title>", 2)
    if breakage == "unclosed-tags":
        text = text.replace("</title>", "", 1)
        return text[:at] + "<b><i><unclosed attr='1'>" + text[at:]
    if breakage == "nested-cdata":
        tricky = "<description><![CDATA[outer <![CDATA[<script>alert(1)</script>]]> tail]]>"
        return text[:at] + tricky + "</description>" + text[at:]
    if breakage == "huge-attribute":
        value = "A" * HUGE_ATTRIBUTE
        return text[:at] + f"<x:huge xmlns:x='urn:x' value='{value}'/>" + text[at:]
    if breakage == "deep-nesting":
        nested = "<x:n xmlns:x='urn:x'>" + "<x:n>" * DEEP + "deep" + "</x:n>" * (DEEP + 1)
        if rng.random() < 0.5:  # or as HTML, for the sanitiser
            nested = "<description>" + escape("<div>" * DEEP + "deep") + "</description>"
        return text[:at] + nested + text[at:]
    if breakage == "control-characters":
        return text.replace("</title>", " bell\x07 nul\x00 vt\x0b del\x7f c1\x85\x9f</title>", 2)
    if breakage == "bad-character-references":
        refs = " &#0; &#x0; &#xD800; &#xDFFF; &#1; &#x1F; &#65535; &#x110000; &#150;"
        return text.replace("</title>", refs + "</title>", 2)
    if breakage == "markup-in-titles":
        title = escape("<b>x</b><script>alert(1)</script><img src=x onerror=alert(2)>")
        return text.replace("</title>", title + "</title>", 2)
    return text


def _break_bytes(content: bytes, breakage: str, rng: random.Random) -> bytes:
    """Breakages that are best made on the bytes: a cut download, line noise."""
    if breakage == "truncated":
        return content[: rng.randrange(1, len(content))]
    if breakage == "garbage-bytes":
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        at = rng.randrange(len(content))
        return content[:at] + junk + content[at:]
    return content


# --------------------------------------------------------------------------- encodings


def _prolog(encoding: str | None) -> str:
    if encoding is None:
        return '<?xml version="1.0"?>\n'
    return f'<?xml version="1.0" encoding="{encoding}"?>\n'


def _encode(text: str, encoding: str) -> tuple[bytes, dict[str, str]]:
    """The document in ``encoding`` (a recipe from ENCODINGS) and the headers to serve."""
    legacy = "xmlcharrefreplace"
    if encoding == "utf-8":
        return (_prolog("utf-8") + text).encode("utf-8", "surrogatepass"), {}
    if encoding == "utf-8-bom":
        return b"\xef\xbb\xbf" + (_prolog("UTF-8") + text).encode("utf-8", "surrogatepass"), {}
    if encoding == "utf-8-undeclared":
        return text.encode("utf-8", "surrogatepass"), {}
    if encoding == "utf-16":
        return (_prolog("UTF-16") + text).encode("utf-16", "surrogatepass"), {}
    if encoding == "utf-16-be-bom":
        body = (_prolog("utf-16") + text).encode("utf-16-be", "surrogatepass")
        return b"\xfe\xff" + body, {}
    if encoding == "latin-1":
        return (_prolog("ISO-8859-1") + text).encode("latin-1", legacy), {}
    if encoding == "cp1252":
        return (_prolog("windows-1252") + text).encode("cp1252", legacy), {}
    if encoding == "cp1252-undeclared":
        return (_prolog(None) + text).encode("cp1252", legacy), {}
    if encoding == "declared-utf-8-bytes-latin-1":
        return (_prolog("utf-8") + text).encode("latin-1", legacy), {}
    if encoding == "declared-latin-1-bytes-utf-8":
        return (_prolog("iso-8859-1") + text).encode("utf-8", "surrogatepass"), {}
    if encoding == "bom-utf-8-declared-utf-16":
        return b"\xef\xbb\xbf" + (_prolog("utf-16") + text).encode("utf-8", "surrogatepass"), {}
    if encoding == "header-charset-conflict":
        headers = {"Content-Type": "application/rss+xml; charset=iso-8859-7"}
        return (_prolog("utf-8") + text).encode("utf-8", "surrogatepass"), headers
    raise ValueError(f"unknown encoding recipe {encoding!r}")


# --------------------------------------------------------------------------- the corpus


def corpus(size: int = SIZE, seed: int = SEED) -> Iterator[Case]:
    """``size`` documents, the same bytes on every run for the same seed."""
    rng = random.Random(seed)
    for number in range(size):
        fmt = FORMATS[number % len(FORMATS)]
        encoding = ENCODINGS[number % len(ENCODINGS)]
        breakage = BREAKAGES[number % len(BREAKAGES)]
        chosen = tuple(sorted(rng.sample(sorted(NAMESPACES), rng.randint(0, len(NAMESPACES)))))
        text = _BUILDERS[fmt](rng, chosen, rng.randint(0, 4))
        text = _break_text(text, breakage, rng)
        content, headers = _encode(text, encoding)
        content = _break_bytes(content, breakage, rng)
        name = f"{number:03d}-{fmt}-{encoding}-{breakage}-{'+'.join(chosen) or 'plain'}"
        yield Case(name=name, content=content, headers=headers)
