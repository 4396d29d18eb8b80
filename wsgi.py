"""Entry point for any WSGI server: ``gunicorn wsgi:app``. Never starts a scheduler.

A bad setting stops the worker with one line naming the variable, not a traceback.
"""

from feedsvc.errors import ConfigError
from feedsvc.web import create_app

try:
    app = create_app()
except ConfigError as exc:
    raise SystemExit(f"feedsvc: {exc}") from None
