"""The reference for ``bench/serve.py``: a bare Flask app that serves one constant feed.

It answers ``GET /feeds/all.rss`` with the very bytes, media type and ETag feedsvc
serves for that path, and ``304`` when ``If-None-Match`` names that ETag (the same
comparison feedsvc makes), so the only difference the benchmark sees is what feedsvc
does per request beyond a plain Flask view: its routing, cache lookup, validators
and headers. ``bench/serve.py`` writes the body to a file and starts this module
under gunicorn with ``BENCH_BODY_FILE``, ``BENCH_CONTENT_TYPE`` and ``BENCH_ETAG``
set; it is not meant to be run on its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, request

BODY = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
CONTENT_TYPE = os.environ["BENCH_CONTENT_TYPE"]
ETAG = os.environ["BENCH_ETAG"]

app = Flask(__name__)


@app.get("/feeds/all.rss")
def feed() -> Response:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if ETAG in tags or "*" in tags:
            return Response(status=304, headers={"ETag": ETAG})
    return Response(BODY, status=200, headers={"ETag": ETAG}, content_type=CONTENT_TYPE)
