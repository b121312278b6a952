"""The server's errors: the shared `ErrorBody` shape, except on the Open Inference Protocol routes
(/v2), which answer the protocol's {"error": "<message>"}."""

from __future__ import annotations

from fastapi import FastAPI

from shared.http import ApiError, describe_errors, error_response, install_error_handlers

__all__ = ["ApiError", "describe_errors", "error_response", "install", "oip_body"]


def oip_body(path: str, error: str, detail: str) -> dict | None:
    return {"error": detail} if path.startswith("/v2") else None


def install(app: FastAPI) -> None:
    install_error_handlers(app, oip_body)
