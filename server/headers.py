"""The request headers the server parses itself, read as ASCII.

An HTTP header's digits are ASCII digits (RFC 9110). Python's `str.isdigit` and `int` also take
Unicode digits ('²' passes `isdigit` and then fails `int`: a 500), underscores and spaces
('1_0', ' 3'). Each header's pattern is written once, here: the routes publish it in the OpenAPI
schema (`parameter`) and the parsers below refuse, with a message that says what is wrong, any
value that does not match it, whenever the header is sent.
"""

from __future__ import annotations

import re

from server.errors import ApiError

BATCH_SHAPE = "X-Batch-Shape"
BATCH_SHAPE_PATTERN = r"^[0-9]{1,10}(,[0-9]{1,10}){3}$"  # N,C,H,W
HEADER_LENGTH = "Inference-Header-Content-Length"
HEADER_LENGTH_PATTERN = r"^[0-9]{1,19}$"



def parameter(name: str, pattern: str, description: str) -> dict:
    """The OpenAPI declaration of an optional header."""
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


_BATCH_SHAPE = re.compile(BATCH_SHAPE_PATTERN, re.ASCII)
_HEADER_LENGTH = re.compile(HEADER_LENGTH_PATTERN, re.ASCII)


def batch_shape(text: str | None) -> list[int]:
    """X-Batch-Shape `N,C,H,W`: four non-negative ASCII integers."""
    if not text:
        raise ApiError(422, "invalid_input", f"a binary body needs the header {BATCH_SHAPE}: N,C,H,W")
    if _BATCH_SHAPE.fullmatch(text) is None:
        raise ApiError(422, "invalid_input", f"{BATCH_SHAPE} must be four integers N,C,H,W (ASCII digits), "
                                             f"got {text!r}")
    return [int(part) for part in text.split(",")]


def header_length(text: str) -> int:
    """Inference-Header-Content-Length: one non-negative ASCII integer."""
    if _HEADER_LENGTH.fullmatch(text) is None:
        raise ApiError(400, "invalid_request", f"{HEADER_LENGTH} must be a byte count (ASCII digits), got {text!r}")
    return int(text)
