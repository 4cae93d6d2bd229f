"""/login, /logout and / (the start page of each role)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import StateDep
from api.pages.common import PRE_LOGIN_CSRF, PageSession, new_login_token, render, require_csrf
from qa_pipeline.access.audit_log import record
from qa_pipeline.access.principal import Principal
from qa_pipeline.access.sessions import COOKIE, LIFETIME, check_csrf, create_session, end_session
from qa_pipeline.access.users import authenticate_password

router = APIRouter(include_in_schema=False)


def start_page(who: Principal) -> str:
    if who.role == "agent" and who.agent_id:
        return f"/agents/{quote(who.agent_id)}"
    if who.role == "kpi":
        return "/no-pages"
    return "/review"


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never ``//host`` or a scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/login")
def login_form(
    request: Request, next: str | None = None, error: str | None = None, user: str | None = None
) -> Response:
    """The login form; after a failed attempt the user name stays filled in (``user``)."""
    token = new_login_token()
    response = render(
        request,
        "login.html",
        None,
        next=_safe_next(next) or "",
        csrf=token,
        error=error,
        username=(user or "")[:64],
    )
    response.set_cookie(PRE_LOGIN_CSRF, token, httponly=True, samesite="strict", max_age=3600)
    return response


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not check_csrf(request.cookies.get(PRE_LOGIN_CSRF, ""), csrf_token):
        return RedirectResponse(f"/login?error=expired&next={quote(next)}", status_code=303)
    who = await anyio.to_thread.run_sync(authenticate_password, state.engine, username, password)
    if who is None:
        return RedirectResponse(
            f"/login?error=bad&next={quote(next)}&user={quote(username)}", status_code=303
        )
    cookie, _csrf = create_session(state.engine, who)
    client = request.client.host if request.client else None
    record(state.engine, who, "login", "user", who.name, client=client)
    response = RedirectResponse(_safe_next(next) or start_page(who), status_code=303)
    secure = (
        state.settings.cookie_secure
        if state.settings.cookie_secure is not None
        else request.url.scheme == "https"
    )
    response.set_cookie(
        COOKIE, cookie, httponly=True, samesite="lax", secure=secure, max_age=int(LIFETIME.total_seconds())
    )
    response.delete_cookie(PRE_LOGIN_CSRF)
    return response


@router.post("/logout")
def logout(
    request: Request, state: StateDep, web: PageSession, csrf_token: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    require_csrf(web, csrf_token)
    end_session(state.engine, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
def home(web: PageSession) -> Response:
    return RedirectResponse(start_page(web.principal), status_code=303)


@router.get("/no-pages")
def no_pages(request: Request, web: PageSession) -> Response:
    return render(
        request,
        "error.html",
        web,
        status=403,
        title="该角色没有页面",
        detail="绩效系统账号只能通过 API 拉取指标（GET /v1/indices）。",
        hint="",
    )
