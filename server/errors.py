"""The server's errors: the shared `ErrorBody` shape, except on the Open Inference Protocol routes
(/v2), which answer the protocol's {"error": "<message>"}.

Two answers of the framework are made to say what the OpenAPI schema documents: a 405 names
every method the path serves in `Allow` (the framework names only those of the first route it
tried), and a JSON body that cannot even be decoded (not UTF-8) is the 422 of any other
malformed JSON body, not an undocumented 400.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from shared.http import ApiError, describe_errors, error_response, install_error_handlers
from shared.http.errors import STATUS_CODES

__all__ = ["ApiError", "describe_errors", "error_response", "install", "oip_body"]

_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's detail when decoding the body fails


def oip_body(path: str, error: str, detail: str) -> dict | None:
    return {"error": detail} if path.startswith("/v2") else None


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the OpenAPI schema documents at `path` (the contract a 405 must agree with)."""
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        if compile_path(template)[0].match(path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def install(app: FastAPI) -> None:
    install_error_handlers(app, oip_body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        path = request.url.path
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (methods := allowed_methods(request.app, path)):
            headers["Allow"] = ", ".join(methods)
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            return error_response(422, "invalid_request", "body: the JSON could not be decoded (it must be UTF-8)",
                                  None, path, oip_body)
        return error_response(exc.status_code, STATUS_CODES.get(exc.status_code, "error"), str(exc.detail),
                              headers or None, path, oip_body)
