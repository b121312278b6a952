"""What one case records (a `CaseResult`, one JSON file per case) and where: the cache that makes
a grid resumable. A case whose file exists is done and is never recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attacker import confidence
from evaluation.grid import Case
from shared.atomic import atomic_write
from shared.digest import text_digest
from shared.schemas import AttackReport, Confidence


class StatisticOutcome(BaseModel):
    """How one statistic did on the case: the rank of the truth and the confidence it would claim."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(ge=1, description="rank of the lowest-ranked removed class (1 = first); "
                                        "top-N hit when rank <= N, N = number removed")
    confidence: Confidence


class CaseResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str
    case: Case
    truth: list[str]
    original_version: str
    unlearned_version: str
    accuracy_original: float = Field(description="test accuracy of the original as served (its `before` options)")
    accuracy_served: float = Field(description="test accuracy of the unlearned version as served")
    report: AttackReport | None = Field(None, description="None when the attacker could not probe")
    refusal: str | None = None
    outcomes: dict[str, StatisticOutcome] = Field(default_factory=dict, description="per statistic")
    queries: int = 0
    wall_seconds: float

    @property
    def ranked(self) -> bool:
        return self.report is not None and self.report.rankable

    def hit(self, statistic: str | None = None) -> bool:
        """All removed classes in the top N of the ranking (N = how many were removed)."""
        outcome = self.outcomes.get(statistic or self.case.statistic)
        return outcome is not None and outcome.rank <= len(self.truth)

    def attack_hit(self, statistic: str) -> bool:
        """`hit` with `statistic` where the report has it; else with the statistic the attacker used
        (a label-only case is ranked by boundary distances, not by probabilities)."""
        if statistic not in self.outcomes and self.report is not None and self.report.rankable:
            statistic = self.report.statistic
        return self.hit(statistic)

    def label(self, statistic: str | None = None) -> str | None:
        outcome = self.outcomes.get(statistic or self.case.statistic)
        return outcome.confidence.label if outcome else None


class ResultStore:
    def __init__(self, root: Path):
        self.root = Path(root) / "cases"

    def path(self, case: Case) -> Path:
        return self.root / f"{case_id(case)}.json"

    def get(self, case: Case) -> CaseResult | None:
        """The stored result, with this grid's view of the case (whether its seed is held apart) and
        its scoring redone from the report, so a change of the scoring needs no recomputation."""
        path = self.path(case)
        if not path.exists():
            return None
        stored = CaseResult.model_validate_json(path.read_text())
        return stored.model_copy(update={"case": case, "outcomes": outcomes(stored.report, case.classes)})

    def put(self, result: CaseResult) -> None:
        atomic_write(self.root / f"{result.case_id}.json", result.model_dump_json(indent=1).encode())


def case_id(case: Case) -> str:
    """What the case computes: the case itself, every parameter resolved (defaults included, so a
    changed default is never served from an old result); whether its seed is held apart does not
    matter."""
    return text_digest(case.model_dump_json(exclude={"calibration"}), 16)


def outcomes(report: AttackReport | None, truth: tuple[str, ...] | list[str]) -> dict[str, StatisticOutcome]:
    """For each statistic the report carries: the rank of the truth and the confidence it would give.
    Ties count against the attack: a removed class shares its rank with every class scoring as low
    or lower, and an unscored one ranks last."""
    if report is None or not report.rankable:
        return {}
    classes = list(report.scores)
    every = {report.statistic: report.scores, **report.other_statistics}
    out = {}
    for name, by_class in every.items():
        scores = np.array([np.inf if by_class[c] is None or np.isnan(by_class[c]) else by_class[c] for c in classes])
        rank = max(int((scores <= scores[classes.index(t)]).sum()) for t in truth)
        out[name] = StatisticOutcome(rank=rank, confidence=confidence(np.where(np.isinf(scores), np.nan, scores),
                                                                      name))
    return out
