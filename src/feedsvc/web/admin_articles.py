"""The admin pages of one story: what it shows, which sources carry it, retract and restore.

Routes on the admin pages' blueprint (``admin_pages.bp``), so the same login,
CSRF check and headers guard them. The work is ``Lifecycle``'s, as for the API
and the command line; the source page's article list links here.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from feedsvc.errors import Conflict, NotFound, StoreError, ValidationError
from feedsvc.model import Article
from feedsvc.web import admin_common as common
from feedsvc.web.admin_pages import _page, bp


@bp.get("/articles/<article_id>")
def article(article_id: str) -> BaseResponse:
    store = common.service().store
    found = store.article(article_id)
    if found is None:
        return _page(
            "admin/message.html",
            status=404,
            title="Not found",
            message=f"no article {article_id!r}",
        )
    return _page(
        "admin/article.html",
        title=found.title,
        article=found,
        copies=store.story_copies(found.id),
    )


@bp.post("/articles/<article_id>/retract")
def retract(article_id: str) -> BaseResponse:
    payload = {"reason": request.form.get("reason", "").strip() or None}
    return _act(article_id, lambda: common.lifecycle().retract(article_id, payload), "retracted")


@bp.post("/articles/<article_id>/restore")
def restore(article_id: str) -> BaseResponse:
    return _act(article_id, lambda: common.lifecycle().restore(article_id), "restored")


def _act(article_id: str, work: Callable[[], Article], done: str) -> BaseResponse:
    """Run one action; its message (or error) shows on the story's page."""
    try:
        changed = work()
    except NotFound as exc:
        return _page("admin/message.html", status=404, title="Not found", message=str(exc))
    except (Conflict, ValidationError, StoreError) as exc:
        flash(f"Not done: {exc}", "error")
        return redirect(url_for("admin_pages.article", article_id=article_id))
    flash(f"Story {changed.id} {done}; the feeds are published again.")
    return redirect(url_for("admin_pages.article", article_id=changed.id))
