"""How a probe set is made (`ProbeSpec`) and what a saved one was made against (`ProbeSetConfig`).

`ProbeSpec` is the one declaration of a probe set's recipe: the CLI builds it from its flags, the
evaluation harness holds it in its grids, and a saved set records it. A run resumes only with the
same `ProbeSetConfig`: probes made against another version or with other parameters would not be
comparable.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.schemas import NaturalParams, ProbeMethodParams, ZooParams


class ProbeCount(BaseModel):
    """The fields a probe set's recipe and the CLI's `probe` options share."""

    per_class: int = Field(20, ge=1, description="probes per class (the paper's 20)")
    seed: int = Field(0, description="probe k of class c is made from the generator seeded (seed, c, k)")


class ProbeSpec(ProbeCount):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: ProbeMethodParams = Field(default_factory=ZooParams, description="how each probe is made, with the "
                                      "method's parameters (its `name` says which method)")

    @property
    def needs_public_data(self) -> bool:
        return isinstance(self.method, NaturalParams)


class ProbeSetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(description="the version the probes were made on")
    input_shape: tuple[int, int, int]
    classes: list[str]
    spec: ProbeSpec
    capabilities: list[str] = Field(default_factory=list, description="what making them took beyond the API")

    def differences(self, other: ProbeSetConfig) -> list[str]:
        """The settings that differ, as dotted paths (spec.method.threshold)."""
        return sorted(_differences(self.model_dump(), other.model_dump()))


def _differences(mine: dict, theirs: dict, prefix: str = "") -> list[str]:
    out = []
    for key in mine.keys() | theirs.keys():
        a, b = mine.get(key), theirs.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and a.get("name") == b.get("name"):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out
