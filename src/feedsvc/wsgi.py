"""The app for any WSGI server, importable from any directory once feedsvc is installed.

    granian --interface wsgi --workers 4 feedsvc.wsgi:app
    gunicorn -k gthread --threads 8 -w 4 feedsvc.wsgi:app

Settings come from the environment. Without ``FEEDSVC_BASE_URL``, links use
``http://FEEDSVC_HOST:FEEDSVC_PORT/`` (default ``127.0.0.1:8000``) and the hosts
of ``FEEDSVC_ALLOWED_HOSTS``: tell the app the address the server listens on, or
better, set the public base URL. Never starts a scheduler (run ``feedsvc
scheduler`` beside it). A bad setting stops the worker with one line naming the
variable, not a traceback.
"""

from feedsvc.errors import ConfigError
from feedsvc.web import create_app

try:
    app = create_app()
except ConfigError as exc:
    raise SystemExit(f"feedsvc: {exc}") from None
