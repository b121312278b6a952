"""Scoring the attacker's reports against the truth: accuracy with Wilson intervals, what each
defense buys and costs, and whether the confidence labels mean what they say.

Only scored seeds enter the tables. What is chosen from data — the headline statistic, the
thresholds of a confidence rule — is chosen on the held-apart calibration seeds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict

from evaluation.results import CaseResult

HIGH_PRECISION_GOAL = 0.95


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


def best_statistic(results: list[CaseResult]) -> tuple[str, str]:
    """The statistic with the highest top-N accuracy on the calibration cases, and how it was chosen.
    Without calibration cases the attacker's configured statistic is used (nothing is chosen)."""
    calibration = held_apart(results)
    configured = results[0].case.statistic
    if not calibration:
        return configured, "the configured statistic (no calibration seeds)"
    ranked = sorted(statistics_of(calibration), key=lambda s: (-sum(r.hit(s) for r in calibration), s != configured))
    return ranked[0], f"best top-N accuracy on {len(calibration)} calibration cases"


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
    for r in scored(results):
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
    results = scored(results)
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
            attack_accuracy=Rate.of(r.attack_hit(statistic) for r in group),
            success=Rate.of(not r.attack_hit(statistic) for b, r in paired if b.hit(statistic)),
            accuracy_served=round(sum(r.accuracy_served for r in group) / len(group), 4),
            accuracy_cost=round(sum(b.accuracy_served - r.accuracy_served for b, r in paired) / max(len(paired), 1), 4),
            refused=sum(not r.ranked for r in group)))
    return rows


def _story(r: CaseResult) -> tuple:
    c = r.case
    return c.original, c.classes, c.proportion, c.method


# ---------------------------------------------------------------- calibration of the confidence labels
class LabelRow(BaseModel):
    label: str
    right: Rate


def calibration_table(results: list[CaseResult], statistic: str,
                      label_of: Callable[[CaseResult], str | None] | None = None) -> list[LabelRow]:
    """How often a ranking labelled high / medium / low named the removed class(es)."""
    label_of = label_of or (lambda r: r.label(statistic))
    rows = []
    for label in ("high", "medium", "low"):
        group = [r for r in scored(results) if label_of(r) == label]
        rows.append(LabelRow(label=label, right=Rate.of(r.hit(statistic) for r in group)))
    return rows


class HighRule(BaseModel):
    """`high` when lead >= `lead` and top separation >= `separation` (attacker/inference.py)."""

    lead: float
    separation: float
    calibration: Rate  # precision on the calibration cases it was chosen on
    covered: int


def fit_high_rule(results: list[CaseResult], statistic: str, goal: float = HIGH_PRECISION_GOAL,
                  margin: float = 0.03, min_support: int = 10) -> HighRule | None:
    """The loosest (lead, separation) thresholds whose `high` rankings were right at least
    `goal` + `margin` of the time on the calibration cases (with at least `min_support` of them);
    None when no thresholds reach it or there are no calibration cases."""
    calibration = [r for r in held_apart(results) if statistic in r.outcomes]
    best = None
    for lead in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0):
        for separation in (2.0, 3.5, 5.0, 8.0, 12.0, 20.0):
            chosen = [r for r in calibration if r.outcomes[statistic].confidence.lead >= lead
                      and r.outcomes[statistic].confidence.top_separation >= separation]
            rate = Rate.of(r.hit(statistic) for r in chosen)
            if rate.n >= min_support and rate.value >= goal + margin and (best is None or rate.n > best.covered):
                best = HighRule(lead=lead, separation=separation, calibration=rate, covered=rate.n)
    return best
