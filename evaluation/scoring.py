"""Scoring the attacker's reports against the truth: accuracy with Wilson intervals, what each
defense buys and costs, and whether the confidence labels mean what they say (the detector's
own table, against null updates: evaluation/detector.py).

Only scored seeds enter the tables. What is chosen from data — the headline statistic, the null
model, the labelling rule's thresholds — is chosen on calibration seeds and frozen before the
scored seeds run (evaluation/protocol.py).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from evaluation.results import CaseResult


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class Rate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hits: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.hits / self.n if self.n else float("nan")

    @classmethod
    def of(cls, outcomes: Iterable[bool]) -> Rate:
        outcomes = list(outcomes)
        hits = sum(outcomes)
        low, high = wilson(hits, len(outcomes))
        return cls(hits=hits, n=len(outcomes), low=round(low, 4), high=round(high, 4))

    def text(self) -> str:
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}] (n={self.n})" if self.n else "–"


def scored(results: list[CaseResult]) -> list[CaseResult]:
    return [r for r in results if not r.case.calibration]


def held_apart(results: list[CaseResult]) -> list[CaseResult]:
    return [r for r in results if r.case.calibration]


def statistics_of(results: list[CaseResult]) -> list[str]:
    return sorted({name for r in results for name in r.outcomes})


def found(results: list[CaseResult]) -> list[CaseResult]:
    """The positive cases: updates that removed classes (nulls have nothing to find)."""
    return [r for r in results if not r.null]


# ---------------------------------------------------------------- tables
class AccuracyRow(BaseModel):
    regime: str
    proportion: float
    method: str
    defense: str
    defended: bool  # the defense changes anything (the rows without one are the attack's own)
    removed: int
    statistic: str
    accuracy: Rate
    mean_rank: float  # over the cases this statistic ranked


def accuracy_table(results: list[CaseResult]) -> list[AccuracyRow]:
    groups: dict[tuple, list[CaseResult]] = defaultdict(list)
    for r in found(scored(results)):
        c = r.case
        groups[(c.original.regime, c.proportion, c.method, c.defense.name, len(c.classes))].append(r)
    rows = []
    for (regime, p, method, defense, removed), group in sorted(groups.items(), key=lambda kv: _order(kv[0])):
        for statistic in statistics_of(group) or [group[0].case.statistic]:
            ranks = [r.outcomes[statistic].rank for r in group if statistic in r.outcomes]
            rows.append(AccuracyRow(regime=regime, proportion=p, method=method, defense=defense,
                                    defended=group[0].case.defense.active, removed=removed,
                                    statistic=statistic, accuracy=Rate.of(r.hit(statistic) for r in group),
                                    mean_rank=round(sum(ranks) / len(ranks), 2) if ranks else float("nan")))
    return rows


def _order(key: tuple) -> tuple:
    regime, p, method, defense, removed = key
    return (regime, removed, method, defense != "none", defense, p)


class DefenseRow(BaseModel):
    defense: str
    regime: str
    defended: bool
    pruning: tuple[float, str] | None = None  # (rate, policy) of a pruning defense (Defense.pruning)
    cases: int
    attack_accuracy: Rate
    success: Rate  # of the cases the attack got right without a defense, how many it gets wrong with it
    accuracy_served: float
    accuracy_cost: float  # test accuracy lost against the same cases without a defense
    refused: int


def defense_table(results: list[CaseResult], statistic: str) -> list[DefenseRow]:
    results = found(scored(results))
    baseline = {_story(r): r for r in results if not r.case.defense.active}
    groups: dict[tuple, list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[(r.case.defense.name, r.case.original.regime)].append(r)
    rows = []
    for (name, regime), group in sorted(groups.items()):
        paired = [(baseline[_story(r)], r) for r in group if _story(r) in baseline]
        rows.append(DefenseRow(
            defense=name, regime=regime, cases=len(group), defended=group[0].case.defense.active,
            pruning=group[0].case.defense.pruning,
            attack_accuracy=Rate.of(r.hit(statistic) for r in group),
            success=Rate.of(not r.hit(statistic) for b, r in paired if b.hit(statistic)),
            accuracy_served=round(sum(r.accuracy_served for r in group) / len(group), 4),
            accuracy_cost=round(sum(b.accuracy_served - r.accuracy_served for b, r in paired) / max(len(paired), 1), 4),
            refused=sum(not r.ranked for r in group)))
    return rows


def _story(r: CaseResult) -> tuple:
    c = r.case
    return c.original, c.classes, c.proportion, c.method


# ---------------------------------------------------------------- the confidence labels
class LabelRow(BaseModel):
    label: str
    right: Rate  # named labels: the truth named (a class named on a null is wrong); none: it was a null


def calibration_table(results: list[CaseResult], statistic: str) -> list[LabelRow]:
    """How often each label was right, over positives and nulls of the scored seeds."""
    rows = []
    for label in ("high", "medium", "low", "none"):
        group = [r for r in scored(results) if r.label(statistic) == label]
        right = (r.null if label == "none" else r.hit(statistic) for r in group)
        rows.append(LabelRow(label=label, right=Rate.of(right)))
    return rows
