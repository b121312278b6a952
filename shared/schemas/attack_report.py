"""The black-box attack's report (report.json): what the attacker concluded and at what cost.

The attacker writes it; the demo, the benchmarks, the tests and the evaluation harness read it
with `AttackReport.model_validate_json`. It holds the attacker's view only (versions, probes,
queries, scores, ranking, confidence), never the truth.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.schemas.probe_methods import AttackMethodParams

ConfidenceLabel = Literal["high", "medium", "low"]


class VersionPair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before: str = Field(description="the version the probes were measured on first (θ)")
    after: str = Field(description="the version compared with it (θ_u)")


class QueryCounts(BaseModel):
    """Images sent to the API, by phase: what a provider would bill."""

    model_config = ConfigDict(extra="forbid")

    probing: int = Field(ge=0)
    snapshot_before: int = Field(ge=0)
    snapshot_after: int = Field(ge=0)
    total: int = Field(ge=0)

    @model_validator(mode="before")
    @classmethod
    def _total(cls, data: Any) -> Any:
        if isinstance(data, dict) and "total" not in data:
            data = {**data, "total": sum(data.get(k, 0) for k in ("probing", "snapshot_before", "snapshot_after"))}
        return data


class RemovedCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    used: int = Field(ge=1, description="how many classes the report names")
    estimated: int = Field(ge=0, description="classes whose score stands out as outliers")
    given: int | None = Field(None, description="the number the user passed with --top, if any")


class Confidence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead: float = Field(description="the top class's separation minus the runner-up's (robust SDs)")
    top_separation: float = Field(description="how far the top class lies below the median (robust SDs)")
    label: ConfidenceLabel


Scores = dict[str, float | None]


class AttackReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    versions: VersionPair
    probes_per_class: dict[str, int]
    probe_method: AttackMethodParams = Field(description="how the probes (or label-only inputs) were made")
    queries: QueryCounts
    capabilities: list[str] = Field(default_factory=list, description="what the attacker used beyond the public "
                                    "API (public data, a shadow model); empty: the API alone")
    notes: list[str] = Field(default_factory=list, description="what the outputs allowed and what was changed")
    statistic: str
    rankable: bool
    reason: str | None = Field(None, description="why there is no ranking (rankable false)")
    ranking: list[str] | None = Field(None, description="classes, the most likely removed first")
    inferred: list[str] | None = Field(None, description="the classes the report names as removed")
    removed_count: RemovedCount | None = None
    confidence: Confidence | None = None
    scores: Scores | None = None
    separation: Scores | None = None
    other_statistics: dict[str, Scores] = Field(default_factory=dict)
    wall_seconds: float | None = None

    @model_validator(mode="after")
    def _ranked_or_explained(self) -> AttackReport:
        ranked = (self.ranking, self.inferred, self.confidence, self.scores)
        if self.rankable and any(part is None for part in ranked):
            raise ValueError("a rankable report needs ranking, inferred, confidence and scores")
        if not self.rankable and (self.reason is None or self.ranking is not None):
            raise ValueError("a report without a ranking must say why and rank nothing")
        return self
