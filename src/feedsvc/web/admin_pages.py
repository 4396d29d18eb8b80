"""The admin pages under ``/admin/``: sources with their health, add, edit, pause, refresh, delete.

Server-rendered, no JavaScript and nothing from another origin. Logging in
with the admin token opens a session kept in the database; the signed cookie
(HttpOnly, SameSite=Lax, path ``/admin``, Secure when the public base URL is
https) only names it, so logging out ends every copy of it
(``web.admin_auth``). Wrong tokens are throttled per address, as for the
API. Every form carries the session's CSRF token and every POST without the
right one is refused with 400. Source names, URLs and error texts come from
outside and are only ever put on a page through Jinja's autoescaping, under a
strict Content-Security-Policy. The work is done by ``SourceAdmin``, as for
the API; a refresh is queued for the scheduler, never run on a web thread.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask import Request as FlaskRequest
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.wrappers import Response as BaseResponse

from feedsvc.auth import SESSION_LIFETIME
from feedsvc.catalog import format_interval
from feedsvc.errors import ConfigError, Conflict, NotFound, StoreError, ValidationError
from feedsvc.web import admin_auth as auth
from feedsvc.web import admin_common as common

CSRF_FIELD = "csrf_token"
SAFE_NEXT = re.compile(r"/admin/[!-~]*")
"""A login's ``next``: a path under /admin/ in printable ASCII, so no line break (or any
other control) can reach the Location header, and no scheme or host can follow."""
DOT_SEGMENT = re.compile(r"/(?:\.|%2e){1,2}(?=[/?#]|$)", re.IGNORECASE)
"""A ``.`` or ``..`` segment, also written ``%2e`` (browsers resolve both, WHATWG URL):
``/admin/../x`` is not a path under /admin/."""
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
EDIT_FORM_FIELDS = ("url", "title", "desk", "every", "timezone")

bp = Blueprint(
    "admin_pages",
    __name__,
    url_prefix="/admin",
    static_folder="static",
    static_url_path="/static",
)


class AdminSessionInterface(SecureCookieSessionInterface):
    """Sessions exist only under /admin: feed requests never pay for cookie signing."""

    def open_session(self, app: Flask, request: FlaskRequest) -> SecureCookieSession | None:
        if not request.path.startswith("/admin"):
            return None  # Flask uses a null session, and saves nothing
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    """Session settings for the admin cookie; the signing key comes from the admin token."""
    app.session_interface = AdminSessionInterface()
    token = app.config["SETTINGS"].admin_token
    if token and not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = common.session_key(token)
    base_url = app.config["SETTINGS"].base_url or ""
    app.config.update(
        SESSION_COOKIE_NAME="feedsvc_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_SECURE=base_url.startswith("https:"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.register_blueprint(bp)


# -- guards ----------------------------------------------------------------------


def _csrf_token() -> str:
    """The token forms carry: the session's (from its row), or before login the cookie's."""
    token = auth.session_csrf()
    if token is not None:
        return token
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _message(status: int, title: str, message: str, **context: Any) -> BaseResponse:
    return _page("admin/message.html", status=status, title=title, message=message, **context)


@bp.before_request
def _guard() -> BaseResponse | None:
    if request.endpoint == "admin_pages.static":
        return None
    if not common.settings().admin_token:
        return _message(
            403,
            "Admin is disabled",
            "Set FEEDSVC_ADMIN_TOKEN to enable the admin pages.",
            csrf_token="",  # no token, no session key: nothing to sign
            logged_in=False,
        )
    if common.body_too_large():
        return _message(413, "Too large", f"A form is at most {common.MAX_BODY} bytes.")
    logged_in = auth.session_csrf() is not None
    if request.endpoint != "admin_pages.login" and not logged_in:
        if request.method == "GET":
            return redirect(url_for("admin_pages.login", next=request.path))
        return _message(401, "Logged out", "Please log in again.")
    if request.method == "POST":
        given = request.form.get(CSRF_FIELD, "")
        expected = auth.session_csrf() if logged_in else session.get("csrf", "")
        # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
        if not expected or not secrets.compare_digest(given.encode(), expected.encode()):
            return _message(
                400,
                "Form expired",
                "The form's CSRF token is missing or wrong. Reload the page and try again.",
            )
    return None


@bp.errorhandler(StoreError)
@bp.errorhandler(ConfigError)
def _unavailable(exc: Exception) -> BaseResponse:
    """The database or the catalogue cannot be read: say so instead of a bare 500."""
    return _page(
        "admin/message.html",
        status=503,
        title="Unavailable",
        message=str(exc),
        csrf_token="",
        logged_in=False,  # the session cannot be looked up either
    )


@bp.after_request
def _headers(response: BaseResponse) -> BaseResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, status: int = 200, **context: Any) -> BaseResponse:
    if "csrf_token" not in context:
        context["csrf_token"] = _csrf_token()
    if "logged_in" not in context:
        context["logged_in"] = auth.session_csrf() is not None
    if context["logged_in"]:
        context.setdefault("catalog", common.catalog_state())
    context.setdefault("now", datetime.now(UTC))
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    return response


@bp.app_template_filter("ago")
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``; future times read ``in 2 min``."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = int((now - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min"
    elif seconds < 86400:
        text = f"{seconds // 3600} h"
    else:
        text = f"{seconds // 86400} d"
    return f"in {text}" if future else f"{text} ago"


@bp.app_template_filter("interval")
def interval(every: timedelta) -> str:
    return format_interval(every)


# -- log in and out ----------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    target = _safe_next(request.values.get("next"))
    if request.method == "POST":
        wait = auth.locked_out()
        if wait is None:
            token = common.settings().admin_token or ""
            if common.token_matches(request.form.get("token", ""), token):
                auth.succeeded()
                auth.open_session(token)
                return redirect(target)
            wait = auth.failed("login form")
            if wait is None:
                return _page(
                    "admin/login.html", status=401, title="Log in", error="Wrong token.",
                    next=target,
                )
        response = _page(
            "admin/login.html",
            status=429,
            title="Log in",
            error=f"Too many wrong tokens from your address: try again in {wait} s.",
            next=target,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if auth.session_csrf() is not None:
        return redirect(target)
    return _page("admin/login.html", title="Log in", next=target)


def _safe_next(target: str | None) -> str:
    """Only a path inside /admin/: a login link must not redirect anywhere else."""
    if (
        target
        and SAFE_NEXT.fullmatch(target)
        and "//" not in target
        and "\\" not in target
        and not DOT_SEGMENT.search(target)
    ):
        return target
    return url_for("admin_pages.sources")


@bp.post("/logout")
def logout() -> BaseResponse:
    """Ends the session on the server: every copy of its cookie is dead from now on."""
    auth.end_session()
    return redirect(url_for("admin_pages.login"))


# -- sources ---------------------------------------------------------------------------


@bp.get("/")
def sources() -> BaseResponse:
    views = common.service().views()
    return _page("admin/sources.html", title="Sources", views=views)


@bp.get("/sources/<source_id>")
def source(source_id: str) -> BaseResponse:
    service = common.service()
    try:
        view = service.view(source_id)
    except NotFound as exc:
        return _message(404, "Not found", str(exc))
    return _page(
        "admin/source.html",
        title=view.source.title or view.source.id,
        view=view,
        fetches=service.store.recent_fetches(source_id, 20),
        articles=service.store.list_articles(source=source_id, limit=20),
    )


@bp.route("/sources/new", methods=["GET", "POST"])
def new_source() -> BaseResponse:
    service = common.service()
    catalog = service.catalog()
    values: dict[str, Any] = {"every": "15m", "timezone": "UTC", "enabled": True, "topics": []}
    if request.method == "POST":
        values = _form_values(include_id=True)
        try:
            added = service.add(values)
        except (ValidationError, Conflict) as exc:
            return _form(catalog, values, error=str(exc), field=exc.field, status=_status(exc))
        flash(f"Source {added.id} added; it is fetched within a few seconds.")
        return redirect(url_for("admin_pages.source", source_id=added.id))
    return _form(catalog, values)


@bp.route("/sources/<source_id>/edit", methods=["GET", "POST"])
def edit_source(source_id: str) -> BaseResponse:
    service = common.service()
    catalog = service.catalog()
    try:
        current = service.get(source_id)
    except NotFound as exc:
        return _page("admin/message.html", status=404, title="Not found", message=str(exc))
    if current.origin != "api":
        return _page(
            "admin/message.html",
            status=409,
            title="Managed by the catalogue file",
            message=f"Source {source_id} is managed by feeds/sources.toml: edit it there. "
            "Here it can only be paused, resumed or refreshed.",
        )
    if request.method == "POST":
        values = _form_values(include_id=False)
        try:
            service.edit(source_id, values)
        except (ValidationError, Conflict) as exc:
            return _form(
                catalog,
                {**values, "id": source_id},
                error=str(exc),
                field=exc.field,
                editing=True,
                status=_status(exc),
            )
        flash(f"Source {source_id} saved.")
        return redirect(url_for("admin_pages.source", source_id=source_id))
    values = {
        "id": current.id,
        "url": current.url or "",
        "title": current.title or "",
        "desk": current.desk,
        "every": format_interval(current.every),
        "timezone": current.timezone,
        "topics": list(current.topics),
        "enabled": current.enabled,
    }
    return _form(catalog, values, editing=True)


def _status(exc: Exception) -> int:
    return 409 if isinstance(exc, Conflict) else 400


def _form_values(include_id: bool) -> dict[str, Any]:
    """The form as the API's JSON payload, so both go through one validation."""
    values: dict[str, Any] = {name: request.form.get(name, "").strip() for name in EDIT_FORM_FIELDS}
    if include_id:
        values["id"] = request.form.get("id", "").strip()
    values["title"] = values["title"] or None
    values["topics"] = request.form.getlist("topics")
    values["enabled"] = request.form.get("enabled") == "on"
    return values


def _form(
    catalog: Any,
    values: dict[str, Any],
    *,
    error: str | None = None,
    field: str | None = None,
    editing: bool = False,
    status: int = 200,
) -> BaseResponse:
    return _page(
        "admin/form.html",
        status=status,
        title=f"Edit {values.get('id')}" if editing else "Add a source",
        values=values,
        desks=list(catalog.desks.values()),
        topics=list(catalog.topics.values()),
        error=error,
        field=field,
        editing=editing,
    )


def _action(source_id: str, work: Callable[[], object], done: str) -> BaseResponse:
    """Run one POST action; ``done`` (or the error) shows on the source's page."""
    try:
        work()
    except NotFound as exc:
        return _page("admin/message.html", status=404, title="Not found", message=str(exc))
    except (Conflict, ValidationError, StoreError, ConfigError) as exc:
        flash(f"Not done: {exc}", "error")
    else:
        flash(done)
    return redirect(url_for("admin_pages.source", source_id=source_id))


@bp.post("/sources/<source_id>/pause", endpoint="pause", defaults={"paused": True})
@bp.post("/sources/<source_id>/resume", endpoint="resume", defaults={"paused": False})
def set_paused(source_id: str, paused: bool) -> BaseResponse:
    done = "paused." if paused else "resumed; it is due now."
    return _action(
        source_id,
        lambda: common.service().set_paused(source_id, paused),
        f"Source {source_id} {done}",
    )


@bp.post("/sources/<source_id>/refresh")
def refresh(source_id: str) -> BaseResponse:
    return _action(
        source_id,
        lambda: common.service().request_refresh(source_id),
        f"Refresh of {source_id} queued: the scheduler fetches it within a few seconds; "
        "reload this page to see the result.",
    )


@bp.post("/sources/<source_id>/delete")
def delete(source_id: str) -> BaseResponse:
    try:
        common.service().remove(source_id)
    except NotFound as exc:
        return _page("admin/message.html", status=404, title="Not found", message=str(exc))
    except Conflict as exc:
        flash(f"Not done: {exc}", "error")
        return redirect(url_for("admin_pages.source", source_id=source_id))
    flash(f"Source {source_id} removed; its articles stay.")
    return redirect(url_for("admin_pages.sources"))
