"""Label inference from two snapshots of the same probes (METHOD.md).

For each class c, beta_c is the mean over the probes made for class c of
p_after[c] - p_before[c]: how much the model's confidence in c fell on c's own probes. The
class whose probes lost the most confidence (the most negative beta) is ranked first. The
attacker does not know the truth, so every class's probes are used and no class is favoured.
"""

from __future__ import annotations

import numpy as np


def class_beta(before: np.ndarray, after: np.ndarray, targets: np.ndarray, num_classes: int) -> np.ndarray:
    """beta_c per class; NaN for a class without probes."""
    if before.shape != after.shape or len(before) != len(targets):
        raise ValueError(f"snapshots of shapes {before.shape} and {after.shape} do not match {len(targets)} probes")
    rows = np.arange(len(targets))
    own_drop = after[rows, targets] - before[rows, targets]
    beta = np.full(num_classes, np.nan)
    for c in range(num_classes):
        mask = targets == c
        if mask.any():
            beta[c] = own_drop[mask].mean()
    return beta


def rank_classes(beta: np.ndarray) -> list[int]:
    """Class indices, the most negative beta first; classes without probes (NaN) last."""
    order = np.argsort(np.where(np.isnan(beta), np.inf, beta), kind="stable")
    return [int(c) for c in order]
