"""The black-box attack's report (report.json): what the attacker concluded and at what cost.

The attacker writes it; the demo, the benchmarks, the tests and the evaluation harness read it
with `AttackReport.model_validate_json`. It holds the attacker's view only (versions, probes,
queries, scores, ranking, the detection and its null model, confidence), never the truth.
It answers two questions: did the update single out a class (`detection`, and the label `none`
when no class stands out), and which one, how sure (`ranking`, `inferred`, `confidence`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.schemas.probe_methods import AttackMethodParams

# `none`: no class stands out; the report ranks but names nothing
ConfidenceLabel = Literal["high", "medium", "low", "none"]


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

    used: int = Field(ge=0, description="how many classes the report names (0: no class stands out)")
    estimated: int = Field(ge=0, description="classes whose score stands out as outliers")
    given: int | None = Field(None, description="the number the user passed with --top, if any")


class Detection(BaseModel):
    """Did the update single out a class: the evidence, and how often an update that singled out
    none would show as much, by the null model named (attacker/detection.py)."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(description="more = more evidence that the update singled out a class: −log10 of the "
                                     "p-value with a null model; without one, the top class's separation from the "
                                     "other classes (robust SDs)")
    null_model: str | None = Field(None, description="history, shadow or resample; None: no null model (the score is "
                                                     "measured against the other classes of the same update only)")
    null_description: str | None = None
    null_draws: int | None = Field(None, description="the null model's draws per class")
    p_value: float | None = Field(None, description="by the null model: the chance that an update singling out no "
                                                    "class shows a class as extreme (Bonferroni over the classes)")
    probe_noise_only: bool = Field(False, description="the null measures probe noise only (resampling), not the "
                                                      "retraining's own noise")


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
    scores: Scores | None = Field(None, description="what the ranking uses: each class's score, standardised by its "
                                                    "null (z) when there is a null model")
    raw_statistics: dict[str, Scores] = Field(default_factory=dict, description="with a null model: every statistic's "
                                              "scores before standardisation")
    separation: Scores | None = None
    detection: Detection | None = Field(None, description="the headline statistic's detection")
    other_statistics: dict[str, Scores] = Field(default_factory=dict)
    other_detections: dict[str, Detection] = Field(default_factory=dict)
    wall_seconds: float | None = None

    @model_validator(mode="after")
    def _ranked_or_explained(self) -> AttackReport:
        ranked = (self.ranking, self.inferred, self.confidence, self.scores, self.detection)
        if self.rankable and any(part is None for part in ranked):
            raise ValueError("a rankable report needs ranking, inferred, confidence, scores and detection")
        if self.rankable and (self.confidence.label == "none") != (not self.inferred):
            raise ValueError("a report names no class exactly when no class stands out (label none)")
        if not self.rankable and (self.reason is None or self.ranking is not None):
            raise ValueError("a report without a ranking must say why and rank nothing")
        return self

    def raw_scores(self, statistic: str | None = None) -> Scores:
        """A statistic's scores (default: the headline's) before a null model standardised them:
        with a null model the raw ones, without one the scores the report ranks by."""
        statistic = statistic or self.statistic
        return self.raw_statistics.get(statistic) or (
            self.scores if statistic == self.statistic else self.other_statistics[statistic])
