"""What one case records (a `CaseResult`, one JSON file per case) and where: the cache that makes
a grid resumable. A case whose file exists is done and is never recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attacker import LabelRule, score_values, separation
from evaluation.grid import Case
from evaluation.truth_rank import rank_of_truth
from evaluation.white_box import WhiteBox
from shared.atomic import atomic_write
from shared.digest import text_digest
from shared.schemas import AttackReport, Confidence, Detection


class StatisticOutcome(BaseModel):
    """How one statistic did on the case: the rank of the truth, the detection and the label the
    attacker's rule gives it."""

    model_config = ConfigDict(extra="forbid")

    rank: int | None = Field(ge=1, description="rank of the lowest-ranked removed class (1 = first); top-N hit when "
                                               "rank <= N, N = number removed; None for a null update")
    confidence: Confidence
    detection: Detection


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
    white_box: WhiteBox | None = Field(None, description="the operator's reading of the same update's weights")
    wall_seconds: float

    @property
    def ranked(self) -> bool:
        return self.report is not None and self.report.rankable

    @property
    def null(self) -> bool:
        """An update that singled out no class: nothing to name, and any class named is a false alarm."""
        return self.case.null is not None

    def outcome(self, statistic: str | None = None) -> StatisticOutcome | None:
        """The outcome of `statistic` (default: the case's) where the report has it; else of the
        statistic the attacker ranked by (a label-only case is ranked by boundary distances)."""
        statistic = statistic or self.case.statistic
        if statistic not in self.outcomes and self.ranked:
            statistic = self.report.statistic
        return self.outcomes.get(statistic)

    def hit(self, statistic: str | None = None) -> bool:
        """All removed classes in the top N of the ranking (N = how many were removed); never for a null."""
        outcome = self.outcome(statistic)
        return outcome is not None and outcome.rank is not None and outcome.rank <= len(self.truth)

    def label(self, statistic: str | None = None) -> str | None:
        outcome = self.outcome(statistic)
        return outcome.confidence.label if outcome else None

    def detection_score(self, statistic: str | None = None) -> float:
        """The detection score (more = more evidence of a targeted update); a case without a ranking
        counts as no evidence at all."""
        outcome = self.outcome(statistic)
        return outcome.detection.score if outcome else float("-inf")

    def plain_score(self, statistic: str | None = None) -> float:
        """The detection score of the attack as it was before null models: how far the top class's
        raw score stands out from the other classes' (its separation), for the comparison."""
        if not self.ranked:
            return float("-inf")
        statistic = statistic or self.case.statistic
        if statistic not in self.outcomes:
            statistic = self.report.statistic
        raw = self.report.raw_scores(statistic)
        return float(np.nanmax(separation(score_values(raw))))

    def high_right(self, statistic: str | None = None) -> bool:
        """A `high` that named the truth (a `high` on a null is wrong)."""
        return self.label(statistic) == "high" and self.hit(statistic)


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
        return stored.model_copy(update={"case": case, "outcomes": outcomes(stored.report, case.classes,
                                                                            case.attacker.rule)})

    def put(self, result: CaseResult) -> None:
        atomic_write(self.root / f"{result.case_id}.json", result.model_dump_json(indent=1).encode())


def case_id(case: Case) -> str:
    """What the case computes: the case itself, every parameter resolved (defaults included, so a
    changed default is never served from an old result). Whether its seed is held apart does not
    matter, nor does the labelling rule: the labels are read from the report's scores and
    detection when the case is scored (`outcomes`), so a calibration can try rules on stored cases."""
    return text_digest(case.model_dump_json(exclude={"calibration": True, "attacker": {"rule": True}}), 16)


def outcomes(report: AttackReport | None, truth: tuple[str, ...] | list[str],
             rule: LabelRule) -> dict[str, StatisticOutcome]:
    """For each statistic the report carries: the rank of the truth (none for a null), its
    detection, and the label `rule` gives it. Ties count against the attack: a removed class
    shares its rank with every class scoring as low or lower, and an unscored one ranks last."""
    if report is None or not report.rankable:
        return {}
    classes = list(report.scores)
    every = {report.statistic: (report.scores, report.detection),
             **{name: (scores, report.other_detections[name]) for name, scores in report.other_statistics.items()}}
    out = {}
    for name, (by_class, detection) in every.items():
        scores = score_values({c: by_class[c] for c in classes})  # in the headline's class order
        out[name] = StatisticOutcome(rank=rank_of_truth(np.where(np.isnan(scores), np.inf, scores), classes, truth),
                                     detection=detection,  # an unscored class ranks last and labels nothing
                                     confidence=rule.label(np.where(np.isinf(scores), np.nan, scores), detection))
    return out
