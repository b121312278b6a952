"""The seeded splits of the threat model.

- D0 / D_u: the train set split at random into public pretraining data D0 (80 %) and private
  user data D_u (20 %).
- X: the samples a deletion request removes, a proportion p of one class's samples.

Both are pure functions of their inputs and the seed; indices come back sorted.
"""

from __future__ import annotations

import math

import numpy as np


def split_public_private(n: int, seed: int, public_fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Indices of D0 and D_u in a train set of `n` samples."""
    if n < 2:
        raise ValueError(f"need at least 2 samples to split, got {n}")
    if not 0.0 < public_fraction < 1.0:
        raise ValueError(f"public_fraction must be in (0, 1), got {public_fraction}")
    order = np.random.default_rng([seed, 0xD0]).permutation(n)
    cut = min(max(1, round(n * public_fraction)), n - 1)
    return np.sort(order[:cut]), np.sort(order[cut:])


def forget_count(n_class: int, proportion: float) -> int:
    """How many of `n_class` samples a proportion removes: floor(p * n), at least one."""
    if not 0.0 < proportion <= 1.0:
        raise ValueError(f"proportion must be in (0, 1], got {proportion}")
    return max(1, math.floor(proportion * n_class + 1e-9))


def select_forget_set(indices: np.ndarray, labels: np.ndarray, cls: int, proportion: float,
                      seed: int) -> np.ndarray:
    """X: a seeded choice of a proportion of the class-`cls` members among `indices`.

    `labels` is aligned with `indices`. Returns a sorted subset of `indices`.
    """
    indices = np.asarray(indices)
    members = indices[np.asarray(labels) == cls]
    if members.size == 0:
        raise ValueError(f"class {cls} has no samples in the data to unlearn from")
    k = forget_count(members.size, proportion)
    chosen = np.random.default_rng([seed, 0xF0, cls]).permutation(members)[:k]
    return np.sort(chosen)
