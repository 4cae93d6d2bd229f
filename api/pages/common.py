"""What every review page shares: templates, the signed-in user, CSRF, and HTML error pages.

Pages call the same library functions as the JSON API (the review service, the KPI pull, the
store's scoped queries) with the session's principal: roles and scope are decided in one place.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.deps import get_state
from api.state import AppState
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.roles import ROLE_ZH, Action
from qa_pipeline.access.sessions import COOKIE, WebSession, check_csrf, session_user
from qa_pipeline.errors import E, QAError

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
PRE_LOGIN_CSRF = "qa_login_csrf"
API_PREFIXES = ("/v1", "/ui", "/health", "/docs", "/redoc", "/openapi", "/static")


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form."""


class CsrfError(QAError):
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            E.FORBIDDEN, "the form's security token is missing or wrong; reload the page and try again"
        )


def page_session(request: Request, state: Annotated[AppState, Depends(get_state)]) -> WebSession:
    web = session_user(state.engine, request.cookies.get(COOKIE))
    if web is None:
        raise LoginRequired()
    return web


PageSession = Annotated[WebSession, Depends(page_session)]


def require_csrf(web: WebSession, given: str | None) -> None:
    if not check_csrf(web.csrf, given):
        raise CsrfError()


def local_time(value: datetime | None, state: AppState, fmt: str = "%m-%d %H:%M") -> str:
    return "—" if value is None else value.astimezone(state.settings.tz).strftime(fmt)


def nav(who: Principal) -> list[tuple[str, str]]:
    """The menu entries this user may open."""
    links: list[tuple[str, str]] = []
    if who.can(Action.QUEUE_READ):
        links.append(("/review", "复核队列"))
    if who.role == "supervisor" and who.team:
        links.append((f"/teams/{quote(who.team)}", "班组看板"))
    if who.role == "agent" and who.agent_id:
        links.append((f"/agents/{quote(who.agent_id)}", "我的成绩"))
    if who.can(Action.AGREEMENT_READ):
        links.append(("/reports/agreement", "规则一致率"))
    return links


def render(
    request: Request, template: str, web: WebSession | None, status: int = 200, **context: Any
) -> HTMLResponse:
    base: dict[str, Any] = {
        "request": request,
        "web": web,
        "who": web.principal if web else None,
        "role_zh": ROLE_ZH,
    }
    if web is not None:
        base["nav"] = nav(web.principal)
    response = TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def is_page(request: Request) -> bool:
    """A browser asking for a page (HTML errors); API paths and API clients get JSON errors."""
    accepts_html = "text/html" in request.headers.get("accept", "")
    return accepts_html and not request.url.path.startswith(API_PREFIXES)


def error_page(request: Request, exc: QAError) -> Response:
    state: AppState = request.app.state.qa
    web = session_user(state.engine, request.cookies.get(COOKIE))
    titles = {404: "找不到该页面或记录", 403: "没有权限", 422: "输入有误", 409: "操作冲突"}
    return render(
        request,
        "error.html",
        web,
        status=exc.http_status,
        title=titles.get(exc.http_status, "出错了"),
        message=_MESSAGES.get(exc.http_status, ""),
        detail=exc.detail,
        hint=exc.info.hint,
    )


#: What a reader of a 403/404 page needs in Chinese; the API's English detail follows in small print.
_MESSAGES = {
    404: "链接不存在，或这条记录不在您的查看范围内。",
    403: "您的角色不能打开这个页面。如需开通，请联系管理员。",
}


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def new_login_token() -> str:
    return secrets.token_urlsafe(24)
