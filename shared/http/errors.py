"""One error shape for every route: `ErrorBody` {error, detail}, with the right status code.

`install_error_handlers(app, special)` lets a service answer some paths in another shape (the
inference server's Open Inference Protocol routes).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.schemas import ErrorBody

BodyFormat = Callable[[str, str, str], dict | None]  # (path, error, detail) -> body, or None for ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None,
                   path: str = "", special: BodyFormat | None = None) -> JSONResponse:
    body = special(path, error, detail) if special else None
    if body is None:
        body = ErrorBody(error=error, detail=detail).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


def describe_errors(errors) -> str:
    """pydantic / FastAPI validation errors as one readable line."""
    errors = list(errors)
    parts = []
    for err in errors[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = len(errors) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                422: "invalid_request", 429: "too_many_requests", 503: "unavailable"}


def install_error_handlers(app: FastAPI, special: BodyFormat | None = None) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.headers, request.url.path, special)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", describe_errors(exc.errors()), None, request.url.path, special)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, STATUS_CODES.get(exc.status_code, "error"), str(exc.detail),
                              getattr(exc, "headers", None), request.url.path, special)
