"""The developer's view of the data: D0, D_u, the fine-tuning set F and the test set.

All index arrays point into the dataset's train (or test) arrays and are functions of the
`DataConfig` and the regime alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from developer.config import DataConfig, Regime
from shared.data import ImageDataset, load_dataset, split_public_private


@dataclass(frozen=True)
class Splits:
    dataset: ImageDataset
    d0: np.ndarray
    du: np.ndarray
    test: np.ndarray
    seed: int

    def finetune_set(self, regime: Regime) -> np.ndarray:
        """F: the regime's seeded subset of D_u (all of it when `regime.samples` is None), sorted."""
        if regime.samples is None or regime.samples >= self.du.size:
            return self.du
        chosen = np.random.default_rng([self.seed, 0xF7]).choice(self.du, size=regime.samples, replace=False)
        return np.sort(chosen)

    @cached_property
    def classes(self) -> tuple[str, ...]:
        return self.dataset.classes


def seeded_subset(n: int, limit: int | None, seed: int, salt: int) -> np.ndarray:
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, salt]).choice(n, size=limit, replace=False))


def prepare_splits(cfg: DataConfig) -> Splits:
    dataset = load_dataset(cfg.dataset)
    train = seeded_subset(len(dataset.train_y), cfg.train_limit, cfg.seed, 0x7A)
    d0_pos, du_pos = split_public_private(train.size, cfg.seed, cfg.public_fraction)
    test = seeded_subset(len(dataset.test_y), cfg.test_limit, cfg.seed, 0x7E)
    return Splits(dataset, train[d0_pos], train[du_pos], test, cfg.seed)


def epoch_order(indices: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """The order in which `indices` are visited in `epoch`: a seeded permutation."""
    return indices[np.random.default_rng([seed, 0xE0, epoch]).permutation(indices.size)]
