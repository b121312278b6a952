"""The one error body every route of the server returns."""

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str  # a short machine-readable code, e.g. "invalid_input", "payload_too_large"
    detail: str  # what was wrong, for a human
