"""Pages answer errors as HTML (a 404 page, a 403 page) and send a visitor without a session to the
login form; the JSON API keeps its JSON errors."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import error_response, http_error, install_error_handlers
from api.pages.common import LoginRequired, error_page, is_page, login_redirect
from qa_pipeline.errors import NotFoundError, QAError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


async def _login_required(request: Request, _exc: Exception) -> Response:
    return login_redirect(request)


async def _qa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QAError)
    return error_page(request, exc) if is_page(request) else error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_page(request) and exc.status_code in (404, 405):
        return error_page(request, NotFoundError("page", request.url.path))
    return await http_error(request, exc)


def install_page_handlers(app: FastAPI) -> None:
    """After :func:`install_error_handlers`: pages get HTML errors, API paths keep JSON."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(QAError, _qa_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


__all__ = ["STATIC_DIR", "install_error_handlers", "install_page_handlers"]
