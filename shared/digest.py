"""Short content digests: the one way this project names a configuration or an array by its content.

A digest is the first hex characters of a SHA-256: of a pydantic model's JSON (its fields in
declaration order, defaults included, so a changed default is a changed digest), or of an array's
bytes in a fixed dtype (so the same numbers give the same name whatever dtype they arrived in).
Caches, probe sets and case files are keyed by these; two copies of the recipe would drift.
"""

from __future__ import annotations

import hashlib

import numpy as np
from pydantic import BaseModel, ConfigDict


def text_digest(text: str, length: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def model_digest(model: BaseModel, length: int = 12) -> str:
    return text_digest(model.model_dump_json(), length)


def array_digest(array: np.ndarray, dtype: type = np.float32, length: int = 16) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=dtype).tobytes()).hexdigest()[:length]


class Frozen(BaseModel):
    """A configuration that names what it computes: immutable, strict about its fields, hashable,
    and digested by its content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def digest(self) -> str:
        return model_digest(self)
