"""Pages answer errors as HTML (a 404 page, a 403 page) and send a visitor without a session to the
login form; the JSON API keeps its JSON errors."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import error_response, http_error, install_error_handlers, validation_error
from api.pages.common import LoginRequired, error_page, is_page, login_redirect
from qa_pipeline.errors import E, InputError, NotFoundError, QAError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


async def _login_required(request: Request, _exc: Exception) -> Response:
    return login_redirect(request)


async def _qa_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QAError)
    return error_page(request, exc) if is_page(request) else error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """A bad query parameter on a page (``?page=0``) is a 422 page, not JSON."""
    if not is_page(request):
        return await validation_error(request, exc)
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    return error_page(
        request, InputError(E.BAD_REQUEST, f"{field}: {first.get('msg', '')}", field=field or None)
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_page(request) and exc.status_code == 404:
        return error_page(request, NotFoundError("page", request.url.path))
    return await http_error(request, exc)


def install_page_handlers(app: FastAPI) -> None:
    """After :func:`install_error_handlers`: pages get HTML errors, API paths keep JSON."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(QAError, _qa_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


__all__ = ["STATIC_DIR", "install_error_handlers", "install_page_handlers"]
