"""Null models: how much each class's score moves when an update singles out no class.

An update moves every class's score a little, and some classes (fragile ones) a lot, whatever was
removed; attributing the update to the class that moved most then names the fragile class. A null
model gives, per class, draws of its score under updates that targeted no class, so that a class
is measured against its own noise (`attacker/detection.py`). Each is a named capability, and the
report names the one it used:

- `history`: the other updates this run has observed on the same probes (a long-running attacker
  sees many versions), each compared with the version before as the update under test is. The
  API alone; how many updates it watched is said. It assumes those updates targeted no class
  (ordinary deletions of random users' samples); one that did only widens the null.
- `shadow`: the attacker's own retrains on public data (`python -m attacker.shadow`), each
  removing one class: class c's draws are the retrains that removed another class. Needs the
  public-data and shadow-model capabilities; only as good as the guessed training recipe.
- `resample`: the probes resampled with replacement within each class. It measures probe noise
  only — not the retraining's own noise, which dominates under realistic fine-tuning — and says so.

Every null gives a (draws, classes) table of the statistic's scores (NaN where a draw does not
apply to a class); `centred` ones are deviations around the observed score (resampling), the
others are scores in their own right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from attacker.calibration import ShadowCalibration

# (statistic, before, after, targets) -> (classes,) scores: attacker/inference.py's class_scores
ScoresOf = Callable[[str, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
RESAMPLES = 200
MIN_HISTORY = 3  # fewer watched updates say too little about a class's noise to test against


@dataclass(frozen=True)
class NullModel:
    name: str
    description: str
    draws_of: Callable[[str], np.ndarray]  # statistic -> (K, classes)
    centred: bool = False
    probe_noise_only: bool = False

    def draws(self, statistic: str) -> np.ndarray:
        return np.asarray(self.draws_of(statistic), dtype=float)


def history_null(update_scores: Callable[[str, object], np.ndarray], others: dict[str, object]) -> NullModel:
    """`others`: version -> its observation (answers to the probes, or boundary distances), for
    every observed version but the two compared; `update_scores(statistic, observation)` scores the
    update from the version before to it, as the update under test is scored."""
    if len(others) < MIN_HISTORY:
        raise ValueError(f"the history null needs at least {MIN_HISTORY} other observed versions on these probes; "
                         f"the run has {len(others)}")
    observations = list(others.values())
    return NullModel("history", f"history: {len(observations)} other updates observed on the same probes",
                     lambda statistic: np.stack([update_scores(statistic, o) for o in observations]))


def shadow_null(calibration: ShadowCalibration) -> NullModel:
    """Row k of the calibration: every class's score when the shadow removed class k; not a draw
    of k's own null."""
    def draws(statistic: str) -> np.ndarray:
        if statistic not in calibration.scores:
            raise ValueError(f"the shadow calibration has no statistic {statistic!r} (it has "
                             f"{sorted(calibration.scores)})")
        table = np.array(calibration.scores[statistic], dtype=float)
        k = min(table.shape)
        table[np.arange(k), np.arange(k)] = np.nan
        return table

    return NullModel("shadow", calibration.describe(), draws)


def resample_null(scores_of: ScoresOf, before: np.ndarray, after: np.ndarray, targets: np.ndarray,
                  seed: int = 0, resamples: int = RESAMPLES) -> NullModel:
    """The probes drawn again with replacement within each class (the same draw for both
    versions), minus the observed scores: the spread that probe sampling alone would give."""
    rng = np.random.default_rng([seed, 0xB007])
    groups = [np.flatnonzero(targets == c) for c in np.unique(targets)]
    picks = [np.concatenate([rng.choice(g, size=g.size) for g in groups]) for _ in range(resamples)]

    def draws(statistic: str) -> np.ndarray:
        observed = scores_of(statistic, before, after, targets)
        return np.stack([scores_of(statistic, before[i], after[i], targets[i]) for i in picks]) - observed

    return NullModel("resample", f"resampling the probes ({resamples} resamples within each class): probe noise "
                     "only, not the retraining's own noise", draws, centred=True, probe_noise_only=True)
