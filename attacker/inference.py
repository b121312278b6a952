"""Label inference from two snapshots of the same probes.

Each statistic gives every class a score; the most negative score ranks first (the class most
likely removed). The attacker does not know the truth, so every probe of every class is used
and no class is favoured.

- ``beta`` (the paper's, METHOD.md): mean over class c's probes of p_after[c] - p_before[c].
  On saturated probes (p_c = 1 - 1e-7) it can barely move, so it ranks by saturation.
- ``logodds``: the same mean of the change of log(p_c / (1 - p_c)), the log-odds of c. A probe's
  confidence may be 0.99999 or 0.9995: its log-odds changes alike when the model's margin for c
  shrinks, so saturation no longer decides the ranking.
- ``logit``: the change of class c's centred log-probability, log p_c - mean_j log p_j (a logit up
  to the softmax's shift), averaged over all probes of all classes: unlearning c lowers c's logit
  on every input, not only on c's probes. Needs every probability (no top-k).
- ``zlogit``: ``logit`` divided by its standard error over the probes: a class whose logit moves
  a lot on every probe (a fragile class) no longer outranks one that moves consistently.
"""

from __future__ import annotations

import numpy as np

from attacker.optimizers.base import TINY, log_odds


def _own(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return probs[np.arange(len(targets)), targets]


def per_class(values: np.ndarray, keys: np.ndarray, num_classes: int, reduce=np.mean) -> np.ndarray:
    """`reduce` of the values whose key is c, for each class c; NaN for a class without any."""
    out = np.full(num_classes, np.nan)
    for c in range(num_classes):
        if (keys == c).any():
            out[c] = reduce(values[keys == c])
    return out


def _centred_log(probs: np.ndarray) -> np.ndarray:
    logs = np.log(np.maximum(probs, TINY))
    return logs - logs.mean(1, keepdims=True)


def beta(before, after, targets, num_classes):
    return per_class(_own(after, targets) - _own(before, targets), targets, num_classes)


def logodds(before, after, targets, num_classes):
    return per_class(log_odds(after, targets) - log_odds(before, targets), targets, num_classes)


def logit(before, after, targets, num_classes):
    return (_centred_log(after) - _centred_log(before)).mean(0)


def zlogit(before, after, targets, num_classes):
    shift = _centred_log(after) - _centred_log(before)
    error = shift.std(0, ddof=1) / np.sqrt(len(shift)) if len(shift) > 1 else np.ones(num_classes)
    return shift.mean(0) / np.maximum(error, 1e-12)


STATISTICS = {"beta": beta, "logodds": logodds, "logit": logit, "zlogit": zlogit}
NEEDS_ALL_PROBABILITIES = {"logit", "zlogit"}


def class_scores(statistic: str, before: np.ndarray, after: np.ndarray, targets: np.ndarray,
                 num_classes: int) -> np.ndarray:
    if before.shape != after.shape or len(before) != len(targets):
        raise ValueError(f"snapshots of shapes {before.shape} and {after.shape} do not match {len(targets)} probes")
    return STATISTICS[statistic](before, after, targets, num_classes)


def rank_classes(scores: np.ndarray) -> list[int]:
    """Class indices, the most negative score first; classes without a score (NaN) last."""
    order = np.argsort(np.where(np.isnan(scores), np.inf, scores), kind="stable")
    return [int(c) for c in order]


def separation(scores: np.ndarray) -> np.ndarray:
    """How far below the bulk each class's score lies, in robust standard deviations:
    (median - score) / (1.4826 * MAD), computed over all scored classes."""
    valid = scores[~np.isnan(scores)]
    center = np.median(valid)
    spread = 1.4826 * np.median(np.abs(valid - center))
    if spread == 0:
        spread = np.std(valid) or 1.0
    return (center - scores) / spread


def estimate_removed_count(scores: np.ndarray, cutoff: float = 3.5) -> int:
    """N for top-N: the classes whose score lies more than `cutoff` robust standard deviations
    below the median (Iglewicz and Hoaglin's outlier rule); 0 when none stands out."""
    return int((separation(scores) > cutoff).sum())
