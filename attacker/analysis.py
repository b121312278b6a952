"""From two observations to the attack's report: every statistic's scores weighed against the
null model (attacker/detection.py), the ranking, the detection, the label, top-N, and honesty
about what the outputs allowed."""

from __future__ import annotations

import numpy as np

from attacker.capabilities import Capabilities
from attacker.detection import Evidence, weigh
from attacker.inference import STATISTICS, class_scores, estimate_removed_count, rank_classes, separation
from attacker.labels import LabelRule
from attacker.nulls import NullModel
from attacker.probes import ProbeSet
from attacker.snapshots import Snapshot
from shared.schemas import AttackReport, QueryCounts, RemovedCount, VersionPair
from shared.schemas.attack_report import Scores


def score_values(scores: Scores) -> np.ndarray:
    """A report's per-class scores as an array in the report's class order; an unscored class
    (None) is NaN."""
    return np.array([np.nan if v is None else v for v in scores.values()], dtype=float)


def raw_ranking(report: AttackReport) -> list[str]:
    """The classes by the headline statistic's raw scores (before a null model), the most negative
    first and unscored last: the ranking of the two observations alone, which the history null
    does not move (reference results record it)."""
    scores = report.raw_scores()
    classes = list(scores)
    return [classes[c] for c in rank_classes(score_values(scores))]


def analyse(probe_set: ProbeSet, before: Snapshot, after: Snapshot, statistic: str, top: int | None,
            caps: Capabilities, null: NullModel | None, rule: LabelRule, null_scores: str = "relative") -> AttackReport:
    """The report of the update `before` -> `after` on the run's probes. `top`: how many classes
    to name when one stands out; None = estimate."""
    _, targets = probe_set.accepted()
    classes = probe_set.classes
    common = dict(
        versions=VersionPair(before=before.version, after=after.version),
        probes_per_class={name: int((targets == c).sum()) for c, name in enumerate(classes)},
        probe_method=probe_set.config.spec.method,
        queries=QueryCounts(probing=probe_set.queries, snapshot_before=before.queries, snapshot_after=after.queries),
        capabilities=probe_set.capabilities() + ([null.description] if null is not None and null.name == "shadow"
                                                 else []),
    )
    if not caps.can_rank:
        return AttackReport(**common, notes=caps.notes, rankable=False, statistic=statistic,
                            reason="the attack cannot rank: " + "; ".join(caps.notes))
    used = caps.statistic(statistic)
    names = [used, *(name for name in STATISTICS
                     if name != used and (caps.all_probabilities or name in ("beta", "logodds")))]
    raw = {name: class_scores(name, before.probabilities, after.probabilities, targets, len(classes))
           for name in names}
    return ranked_report(common, caps.notes, used, classes, raw, null, top, rule, null_scores)


def ranked_report(common: dict, notes: list[str], statistic: str, classes: list[str], raw: dict[str, np.ndarray],
                  null: NullModel | None, top: int | None, rule: LabelRule,
                  null_scores: str = "relative") -> AttackReport:
    """A rankable report from every statistic's raw scores (the probes' and the label-only
    attack's alike), the headline `statistic` first: each weighed against `null`; the ranking,
    the detection and the label from the headline; the classes named (`top`, or estimated; none
    when no class stands out)."""
    evidence: dict[str, Evidence] = {name: weigh(scores, null, name, null_scores) for name, scores in raw.items()}
    headline = evidence[statistic]
    scores = headline.scores
    scored = ~np.isnan(scores)
    ranking = rank_classes(scores)
    conf = rule.label(scores, headline.detection)
    estimated = estimate_removed_count(scores[scored])
    n = 0 if conf.label == "none" else (top if top is not None else max(estimated, 1))
    return AttackReport(
        **common,
        notes=notes + null_notes(null, rule, null_scores),
        rankable=True,
        statistic=statistic,
        ranking=[classes[c] for c in ranking],
        inferred=[classes[c] for c in ranking[:n]],
        removed_count=RemovedCount(used=n, estimated=estimated, given=top),
        confidence=conf,
        scores=by_class(classes, scores),
        raw_statistics={name: by_class(classes, scores) for name, scores in raw.items()} if null is not None else {},
        separation=by_class(classes, separation(scores)),
        detection=headline.detection,
        other_statistics={name: by_class(classes, e.scores) for name, e in evidence.items() if name != statistic},
        other_detections={name: e.detection for name, e in evidence.items() if name != statistic},
    )


def null_notes(null: NullModel | None, rule: LabelRule, null_scores: str) -> list[str]:
    if null is None:
        never = rule.high_separation is None
        return ["no null model: the detection score measures the top class against the other classes of this update "
                "only" + ("; without a null model this attacker does not say `high`" if never else "")]
    way = "relative to each update's own classes" if null_scores == "relative" else "centred on each update's median class"
    notes = [f"scores {way}, then standardised by the {null.name} null ({null.description}): (score − null mean) / "
             "null SD per class; the p-value is the smallest class's (Student's t), times the number of classes"]
    if null.probe_noise_only:
        notes.append("the resampling null measures probe noise only: a class that moves on every retrain still looks "
                     "significant; its p-values are too small wherever the retraining's own noise matters")
    return notes


def by_class(classes: list[str], values: np.ndarray) -> dict[str, float | None]:
    return {name: None if np.isnan(v) else float(v) for name, v in zip(classes, values)}
