"""Map every error to the project's JSON error shape ``{"error": QAError.to_dict()}``, never a bare 500.

QAErrors keep their ``http_status``; FastAPI's request validation errors (query and path
parameters) become 422 ``QA601``; Starlette's own 404/405 get the same shape.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa_pipeline.errors import E, InputError, QAError

log = logging.getLogger(__name__)


class MediaTypeError(InputError):
    """The request body is not JSON (415)."""

    def __init__(self, content_type: str) -> None:
        got = content_type or "none"
        super().__init__(E.BAD_REQUEST, f"Content-Type must be application/json, got {got!r}")
        self.http_status = 415


def error_response(exc: QAError) -> JSONResponse:
    return JSONResponse(status_code=exc.http_status, content={"error": exc.to_dict()})


async def _qa_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QAError)
    if exc.http_status >= 500:
        log.error("%s", exc.message)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body", "header")]
    return error_response(InputError(E.BAD_REQUEST, str(first.get("msg", "")), field=".".join(loc) or None))


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = E.NOT_FOUND if exc.status_code == 404 else E.BAD_REQUEST
    err = QAError(code, str(exc.detail))
    return JSONResponse(status_code=exc.status_code, content={"error": err.to_dict()}, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(QAError, _qa_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
