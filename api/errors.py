"""Map every error to the project's JSON error shape ``{"error": QAError.to_dict()}``.

QAErrors keep their ``http_status``; FastAPI's request validation errors (query and path
parameters) become 422 ``QA601``; Starlette's own 404/405 get the same shape; anything else
(a bug) is logged with its traceback and answered 500 ``QA000`` without its message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa_pipeline.errors import CATALOGUE, AuthError, E, ErrorInfo, InputError, QAError

log = logging.getLogger(__name__)

INTERNAL_ERROR: dict[str, Any] = {
    "code": "QA000",
    "error": "internal error",
    "detail": "",
    "file": None,
    "line": None,
    "field": None,
    "conversation": None,
    "hint": "This is a bug; the server log has the details.",
}


class MediaTypeError(InputError):
    """The request body is not JSON (415)."""

    def __init__(self, content_type: str, *, expected: str = "application/json") -> None:
        got = content_type or "none"
        super().__init__(E.BAD_REQUEST, f"Content-Type must be {expected}, got {got!r}")
        self.http_status = 415


class BodyEncodingError(InputError):
    """The request body cannot be decoded: 422, or 415 for a charset Python does not know.

    Same code as a file that cannot be decoded (``E.ENCODING``), but the hint is about the
    request's Content-Type, not the CLI's ``--encoding``.
    """

    HINT = "Send UTF-8, or declare the body's charset in Content-Type, e.g. application/json; charset=gbk."

    def __init__(self, detail: str, *, http_status: int = 422) -> None:
        super().__init__(E.ENCODING, detail)
        self.http_status = http_status

    @property
    def info(self) -> ErrorInfo:
        return ErrorInfo(CATALOGUE[E.ENCODING].title, self.HINT)


class BusyError(QAError):
    """Too many audits are already waiting for the pipeline (503 with ``Retry-After``)."""

    http_status = 503
    retry_after_s = 5

    def __init__(self, queued: int) -> None:
        detail = f"{queued} conversations are already waiting to be audited; retry in a few seconds"
        super().__init__(E.BUSY, detail)


def error_response(exc: QAError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, BusyError) else None
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": 'Bearer realm="qa"'}
    return JSONResponse(status_code=exc.http_status, content={"error": exc.to_dict()}, headers=headers)


async def _qa_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QAError)
    if exc.http_status >= 500:
        log.error("%s", exc.message)
    return error_response(exc)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body", "header")]
    return error_response(InputError(E.BAD_REQUEST, str(first.get("msg", "")), field=".".join(loc) or None))


BODY_NOT_JSON_HINT = "Send the body as UTF-8 JSON (Content-Type: application/json), as the API docs show."


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = E.NOT_FOUND if status == 404 else E.BAD_REQUEST
    err = QAError(code, str(exc.detail))
    if status == 400:  # FastAPI could not parse the body (not JSON, not UTF-8): bad input, 422 like the rest
        status, err = (
            422,
            QAError(E.INVALID_JSON, f"the body is not valid JSON: {exc.detail}", hint=BODY_NOT_JSON_HINT),
        )
    headers = dict(exc.headers or {})
    if status == 405 and (methods := allowed_methods(request)):  # every method of the path
        headers["Allow"] = ", ".join(methods)
    return JSONResponse(status_code=status, content={"error": err.to_dict()}, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document lists for the request's path (the JSON API; empty for pages,
    which keep the router's own ``Allow``)."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"),
                {m.upper() for m in ops},
            )
            for path, ops in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.allowed_methods = table
    methods: set[str] = set()
    for pattern, ops in table:
        if pattern.match(request.url.path):
            methods |= ops
    return sorted(methods)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: the traceback goes to the log, never to the client (it may quote input)."""
    log.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content={"error": INTERNAL_ERROR})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QAError, _qa_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unexpected)
