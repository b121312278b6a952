"""From two snapshots to the attack's report: scores, ranking, confidence, top-N, and honesty
about what the outputs allowed."""

from __future__ import annotations

import numpy as np

from attacker.capabilities import Capabilities
from attacker.inference import STATISTICS, class_scores, confidence, estimate_removed_count, rank_classes, \
    separation
from attacker.probes import ProbeSet
from attacker.snapshots import Snapshot


def analyse(probe_set: ProbeSet, before: Snapshot, after: Snapshot, statistic: str, top: int | None,
            caps: Capabilities) -> dict:
    """The report (a JSON-ready dict). `top`: how many classes were removed; None = estimate."""
    images, targets = probe_set.accepted()
    classes = probe_set.classes
    per_class = {name: int((targets == c).sum()) for c, name in enumerate(classes)}
    report = {
        "versions": {"before": before.version, "after": after.version},
        "probes_per_class": per_class,
        "optimizer": probe_set.config["optimizer"],
        "queries": {"probing": probe_set.queries, "snapshot_before": before.queries,
                    "snapshot_after": after.queries},
        "notes": caps.notes,
    }
    report["queries"]["total"] = int(sum(report["queries"].values()))
    if not caps.can_rank:
        return {**report, "rankable": False, "ranking": None, "statistic": statistic,
                "reason": "the attack cannot rank: " + "; ".join(caps.notes)}
    used = caps.statistic(statistic)
    scores = class_scores(used, before.probabilities, after.probabilities, targets, len(classes))
    ranking = rank_classes(scores)
    estimated = estimate_removed_count(scores)
    n = top if top is not None else max(estimated, 1)
    sep = separation(scores)
    others = {name: _number(class_scores(name, before.probabilities, after.probabilities, targets, len(classes)))
              for name in STATISTICS if name != used and (caps.all_probabilities or name in ("beta", "logodds"))}
    return {
        **report,
        "rankable": True,
        "statistic": used,
        "ranking": [classes[c] for c in ranking],
        "inferred": [classes[c] for c in ranking[:n]],
        "removed_count": {"used": n, "estimated": estimated, "given": top},
        "confidence": confidence(scores),
        "scores": dict(zip(classes, _number(scores))),
        "separation": dict(zip(classes, _number(sep))),
        "other_statistics": {name: dict(zip(classes, values)) for name, values in others.items()},
    }


def _number(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]
