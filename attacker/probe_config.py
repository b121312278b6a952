"""The identity of a probe set: what it was made against and how (saved as probing.json).

A run resumes only with the same `ProbeSetConfig`: probes made against another version or with
other parameters would not be comparable.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ProbeSetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    input_shape: tuple[int, int, int]
    classes: list[str]
    optimizer: dict[str, Any]
    per_class: int
    seed: int

    def differences(self, other: ProbeSetConfig) -> list[str]:
        mine, theirs = self.model_dump(), other.model_dump()
        return sorted(k for k in mine if mine[k] != theirs[k])
