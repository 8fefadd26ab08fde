"""One JSON error shape for every error the API returns: ``{"error": {"code", "message", "detail"}}``.

Bad input is a 4xx that names the parameter and says what to send; an unknown model is a 404 with close
matches. Only a bug is a 500, and its body still has this shape.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from catalog.errors import CatalogError, InputError, NotFoundError

log = logging.getLogger("catalog.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


def error_response(status: int, code: str, message: str, detail: Any = None) -> Response:
    body = {"error": {"code": code, "message": message, "detail": detail}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "body")]
    return ".".join(parts) or "request"


def install(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.detail)

    async def validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"parameter": _field(e.get("loc", ())), "problem": e.get("msg", ""), "input": _jsonable(e.get("input"))}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"parameter": "request", "problem": "invalid"}
        return error_response(400, "bad_parameter", f"{first['parameter']}: {first['problem']}", {"problems": problems})

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    async def catalog_error(_request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFoundError):
            return error_response(404, "not_found", str(exc))
        if isinstance(exc, InputError):
            return error_response(400, "bad_parameter", str(exc))
        return error_response(503, "unavailable", str(exc))

    async def crash(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "the server failed to answer; this is a bug", type(exc).__name__)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(CatalogError, catalog_error)
    app.add_exception_handler(Exception, crash)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
