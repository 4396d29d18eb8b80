"""Entry point for any WSGI server: ``gunicorn wsgi:app``. Never starts a scheduler."""

from feedsvc.web import create_app

app = create_app()
