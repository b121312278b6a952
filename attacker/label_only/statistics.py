"""Scores from two boundary measurements of the same inputs and directions.

Each statistic scores every class; the most negative score ranks first (as attacker/inference.py's
do). The headline is `boundary` (the mean change of the log distance over c's inputs); the others
are reported beside it.
"""

from __future__ import annotations

import numpy as np

from attacker.inference import per_class
from attacker.label_only.distance import BoundaryMeasurement

STATISTIC = "boundary"


def _log_distances(m: BoundaryMeasurement, resolution: float) -> np.ndarray:
    # the resolution floors a log that a zero distance would send to -inf
    return np.log(np.maximum(m.distances, resolution))


def input_changes(before: BoundaryMeasurement, after: BoundaryMeasurement, resolution: float) -> np.ndarray:
    """(N,) the change of each input's mean log distance to the boundary of its class at the version
    before. An input the version after labels otherwise is at distance zero from that class's
    region (floored at the resolution), whatever its distance to its new class's boundary."""
    change = _log_distances(after, resolution).mean(1) - _log_distances(before, resolution).mean(1)
    left = after.labels != before.labels
    change[left] = np.log(resolution) - _log_distances(before, resolution)[left].mean(1)
    return change


def boundary(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """Score of class c: the mean change over the inputs labelled c before. Unlearning c shrinks
    c's region: its inputs come closer to its boundary, or leave it."""
    return per_class(input_changes(before, after, resolution), before.labels, num_classes, np.mean)


def boundary_median(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """The median instead of the mean: a few inputs that leave c (floored) do not decide it."""
    return per_class(input_changes(before, after, resolution), before.labels, num_classes, np.median)


def boundary_t(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """The mean divided by its standard error over c's inputs: a class whose inputs disagree (a
    fragile class where a few flip) no longer outranks one whose inputs all move."""
    def t(values: np.ndarray) -> float:
        if len(values) < 2:
            return np.nan
        return values.mean() / max(values.std(ddof=1) / np.sqrt(len(values)), 1e-12)
    return per_class(input_changes(before, after, resolution), before.labels, num_classes, t)


def boundary_entry(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """The other side, from all inputs: minus the mean change of log distance over the segments
    that entered c before (from inputs of other classes, labelled alike by both versions): c's
    region receding pushes its boundary away from them."""
    same = np.repeat(after.labels == before.labels, before.distances.shape[1])
    change = (_log_distances(after, resolution) - _log_distances(before, resolution)).ravel()
    return -per_class(change[same], before.entered.ravel()[same], num_classes, np.mean)


def label_flip(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """Minus the fraction of the inputs labelled c before that the version after labels otherwise
    (from the t = 0 answers alone)."""
    return -per_class((after.labels != before.labels).astype(float), before.labels, num_classes, np.mean)


BOUNDARY_STATISTICS = {"boundary": boundary, "boundary_median": boundary_median, "boundary_t": boundary_t,
                       "boundary_entry": boundary_entry, "label_flip": label_flip}

