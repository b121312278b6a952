"""Scoring the attack as a detector: how well its detection score tells updates that removed a
class from null updates that removed none, and how often it cries wolf.

Held to the field's standard for privacy attacks (Carlini et al., "Membership Inference Attacks
From First Principles", 2022): the ROC curve and its AUC over positive and null updates, and the
true-positive rate at a low false-positive rate (1 % and 5 %: the threshold is the lowest score
at which no more than that share of the nulls is flagged, read from scikit-learn's ROC curve).
Beside them, what the attacker itself claims: how often it names a class on a null (its own
false-alarm rate), how often it says `high` on a null, how often a `high` is right over positives
and nulls together, and top-1 among the positives it flags.

Beside each, the same cases scored as the attack was before it had null models (how far the top
class's raw score stands out from the others'): what the null model buys. Rates carry 95 % Wilson
intervals; the AUC a 95 % interval from a stratified bootstrap of the cases
(seeded). Only undefended cases of scored seeds enter (the defense table measures defenses);
nulls are pooled per regime and method: spread deletions of that method and retrains.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import roc_auc_score, roc_curve

from evaluation.results import CaseResult
from evaluation.scoring import Rate, scored

BOOTSTRAP = 2000
LOW_FPR = (0.01, 0.05)


class DetectorRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regime: str
    method: str
    group: str  # which positives: one proportion, or "p ≥ 0.1"
    positives: int
    nulls: int
    auc: float
    auc_low: float
    auc_high: float
    tpr_at_1pct_fpr: Rate
    tpr_at_5pct_fpr: Rate
    plain_auc: float  # the same cases scored as the attack was before null models (top separation, raw scores)
    plain_tpr_at_5pct_fpr: Rate
    detected_top1: Rate  # of the positives it names a class for (label other than none): the right one (top-N
    # for N classes removed)
    null_named: Rate  # of the nulls: a class named all the same (the attacker's own false-alarm rate)
    null_high: Rate  # of the nulls: `high`
    high_right: Rate  # of the positives and nulls labelled `high`: right (a high on a null is wrong)


def undefended(results: list[CaseResult]) -> list[CaseResult]:
    return [r for r in scored(results) if not r.case.defense.active]


def positives(results: list[CaseResult]) -> list[CaseResult]:
    return [r for r in results if not r.null]


def nulls(results: list[CaseResult]) -> list[CaseResult]:
    return [r for r in results if r.null]


def matched_nulls(null_cases: list[CaseResult], proportions: list[float]) -> list[CaseResult]:
    """The nulls a positive of these proportions is told apart from: spread deletions of the same
    proportions, and retrains."""
    sizes = set(proportions)
    return [r for r in null_cases if r.case.null == "retrain" or r.case.proportion in sizes]


def detection_groups(results: list[CaseResult]) -> Iterator[tuple[str, str, str, list[CaseResult], list[CaseResult]]]:
    """(regime, method, group, positives, nulls): per regime, method and number of classes removed,
    each proportion's positives, and those at p ≥ 0.1 together, with the nulls of that regime,
    method and proportion; undefended cases of scored seeds. Groups of several classes removed at
    once are named so ("2 classes, p = 0.1"); their nulls are the same (a spread deletion of that
    proportion removes as many samples as one class's deletion, half as many as two classes')."""
    pool = undefended(results)
    by_key: dict[tuple, list[CaseResult]] = defaultdict(list)
    for r in positives(pool):
        by_key[(r.case.original.regime, r.case.method, len(r.truth))].append(r)
    for (regime, method, count), group in sorted(by_key.items()):
        null_pool = [r for r in nulls(pool) if r.case.original.regime == regime
                     and (r.case.null == "retrain" or r.case.method == method)]
        prefix = "" if count == 1 else f"{count} classes, "
        subsets = {f"{prefix}p = {p:g}": [r for r in group if r.case.proportion == p]
                   for p in sorted({r.case.proportion for r in group})}
        subsets[f"{prefix}p ≥ 0.1"] = [r for r in group if r.case.proportion >= 0.1]
        for name, members in subsets.items():
            matched = matched_nulls(null_pool, [r.case.proportion for r in members])
            if members and matched:
                yield regime, method, name, members, matched


def detector_table(results: list[CaseResult], statistic: str) -> list[DetectorRow]:
    return [detector_row(regime, method, name, pos, neg, statistic)
            for regime, method, name, pos, neg in detection_groups(results)]


def detector_row(regime: str, method: str, group: str, pos: list[CaseResult], neg: list[CaseResult],
                 statistic: str) -> DetectorRow:
    y, s = labelled_scores(pos, neg, statistic)
    auc, low, high = auc_interval(y, s)
    _, plain = labelled_scores(pos, neg, statistic, plain=True)
    named = [r for r in pos if r.label(statistic) not in (None, "none")]
    high_cases = [r for r in pos + neg if r.label(statistic) == "high"]
    return DetectorRow(
        regime=regime, method=method, group=group, positives=len(pos), nulls=len(neg), auc=round(auc, 4),
        auc_low=round(low, 4), auc_high=round(high, 4),
        tpr_at_1pct_fpr=tpr_at(y, s, LOW_FPR[0]), tpr_at_5pct_fpr=tpr_at(y, s, LOW_FPR[1]),
        plain_auc=round(float(roc_auc_score(y, plain)), 4), plain_tpr_at_5pct_fpr=tpr_at(y, plain, LOW_FPR[1]),
        detected_top1=Rate.of(r.hit(statistic) for r in named),
        null_named=Rate.of(r.label(statistic) not in (None, "none") for r in neg),
        null_high=Rate.of(r.label(statistic) == "high" for r in neg),
        high_right=Rate.of(r.high_right(statistic) for r in high_cases))


def labelled_scores(pos: list[CaseResult], neg: list[CaseResult], statistic: str,
                    plain: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """1 for a positive, 0 for a null, and each case's detection score (`plain`: as the attack
    scored before null models); a case the attacker could not rank scores below every ranked one."""
    score = (lambda r: r.plain_score(statistic)) if plain else (lambda r: r.detection_score(statistic))
    scores = np.array([score(r) for r in pos + neg], dtype=float)
    finite = scores[np.isfinite(scores)]
    floor = (finite.min() - 1.0) if finite.size else 0.0
    return np.array([1] * len(pos) + [0] * len(neg)), np.where(np.isfinite(scores), scores, floor)


def tpr_at(y: np.ndarray, scores: np.ndarray, fpr_goal: float) -> Rate:
    """The true-positive rate at the lowest threshold whose false-positive rate is at most `fpr_goal`."""
    fpr, tpr, _ = roc_curve(y, scores)
    best = float(tpr[fpr <= fpr_goal + 1e-12].max())
    positives_ = int(y.sum())
    return Rate.of([True] * round(best * positives_) + [False] * (positives_ - round(best * positives_)))


def auc_interval(y: np.ndarray, scores: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """The AUC and a 95 % stratified-bootstrap interval (positives and nulls resampled apart)."""
    auc = float(roc_auc_score(y, scores))
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    draws = [roc_auc_score(y[idx], scores[idx]) for idx in
             (np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)]) for _ in range(BOOTSTRAP))]
    low, high = np.percentile(draws, [2.5, 97.5])
    return auc, float(low), float(high)


def roc_points(pos: list[CaseResult], neg: list[CaseResult], statistic: str) -> tuple[np.ndarray, np.ndarray]:
    y, s = labelled_scores(pos, neg, statistic)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr
