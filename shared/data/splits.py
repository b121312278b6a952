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


def select_spread_set(indices: np.ndarray, labels: np.ndarray, count: int, seed: int, draw: int) -> np.ndarray:
    """A deletion that singles out no class: `count` of `indices` spread as evenly as counts allow
    over the classes (each loses count // classes, and count % classes of them, drawn at random,
    one more), the samples drawn at random within each class. A plain random draw would not do:
    its class counts vary, so some class would lose several times another's — a class-specific
    deletion after all. `labels` is aligned with `indices`; returns a sorted subset."""
    indices, labels = np.asarray(indices), np.asarray(labels)
    classes = np.unique(labels)
    if not 0 < count <= indices.size:
        raise ValueError(f"cannot delete {count} of {indices.size} samples")
    rng = np.random.default_rng([seed, 0x5B, draw])
    per_class = np.full(classes.size, count // classes.size)
    per_class[rng.permutation(classes.size)[:count % classes.size]] += 1
    chosen = [rng.permutation(indices[labels == c])[:k] for c, k in zip(classes, per_class)]
    if sum(len(c) for c in chosen) < count:
        raise ValueError(f"cannot spread {count} deletions over classes this small")
    return np.sort(np.concatenate(chosen))
