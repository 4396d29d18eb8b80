"""Entry point for a WSGI server started in this checkout: ``gunicorn wsgi:app``.

The same app as ``feedsvc.wsgi:app``, which works from any directory.
"""

from feedsvc.wsgi import app

__all__ = ["app"]
