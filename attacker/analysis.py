"""From two snapshots to the attack's report: scores, ranking, confidence, top-N, and honesty
about what the outputs allowed."""

from __future__ import annotations

import numpy as np

from attacker.calibration import ShadowCalibration
from attacker.capabilities import Capabilities
from attacker.inference import STATISTICS, class_scores, confidence, estimate_removed_count, rank_classes, \
    separation
from attacker.probes import ProbeSet
from attacker.snapshots import Snapshot, probe_digest
from shared.schemas import AttackReport, Confidence, QueryCounts, RemovedCount, VersionPair


def analyse(probe_set: ProbeSet, before: Snapshot, after: Snapshot, statistic: str, top: int | None,
            caps: Capabilities, shadow: ShadowCalibration | None = None) -> AttackReport:
    """The report. `top`: how many classes were removed; None = estimate. With `shadow`, each
    class's score is measured against its own null from the shadow models (attacker/calibration.py)."""
    _, targets = probe_set.accepted()
    classes = probe_set.classes
    common = dict(
        versions=VersionPair(before=before.version, after=after.version),
        probes_per_class={name: int((targets == c).sum()) for c, name in enumerate(classes)},
        probe_method=probe_set.config.spec.method,
        queries=QueryCounts(probing=probe_set.queries, snapshot_before=before.queries, snapshot_after=after.queries),
        capabilities=probe_set.capabilities() + ([shadow.describe()] if shadow else []),
    )
    if shadow is not None and shadow.probe_digest != probe_digest(probe_set.accepted()[0]):
        raise ValueError("the shadow calibration was made for other probes: run python -m attacker.shadow again")
    if not caps.can_rank:
        return AttackReport(**common, notes=caps.notes, rankable=False, statistic=statistic,
                            reason="the attack cannot rank: " + "; ".join(caps.notes))
    used = caps.statistic(statistic)

    def scores_of(name: str) -> np.ndarray:
        raw = class_scores(name, before.probabilities, after.probabilities, targets, len(classes))
        return raw if shadow is None else shadow.normalise(name, raw)

    scores = scores_of(used)
    others = [name for name in STATISTICS
              if name != used and (caps.all_probabilities or name in ("beta", "logodds"))]
    notes = caps.notes + ([f"scores are shadow-calibrated: (score - null mean) / null SD of each class, from "
                           f"{shadow.describe()}"] if shadow else [])
    return ranked_report(common, notes, used, classes, scores, top, confidence(scores, used),
                         {name: by_class(classes, scores_of(name)) for name in others})


def ranked_report(common: dict, notes: list[str], statistic: str, classes: list[str], scores: np.ndarray,
                  top: int | None, conf: Confidence, others: dict[str, dict[str, float | None]]) -> AttackReport:
    """A rankable report from one statistic's scores (the probes' and the label-only attack's alike):
    the ranking, the N classes named (`top`, or estimated), separations, the other statistics."""
    ranking = rank_classes(scores)
    estimated = estimate_removed_count(scores)
    n = top if top is not None else max(estimated, 1)
    return AttackReport(
        **common,
        notes=notes,
        rankable=True,
        statistic=statistic,
        ranking=[classes[c] for c in ranking],
        inferred=[classes[c] for c in ranking[:n]],
        removed_count=RemovedCount(used=n, estimated=estimated, given=top),
        confidence=conf,
        scores=by_class(classes, scores),
        separation=by_class(classes, separation(scores)),
        other_statistics=others,
    )


def by_class(classes: list[str], values: np.ndarray) -> dict[str, float | None]:
    return {name: None if np.isnan(v) else float(v) for name, v in zip(classes, values)}
