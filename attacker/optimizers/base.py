"""The interface every probe optimiser follows (in the manner of IBM ART's attacks):
declared parameters, a parameter check, and one `generate`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

BlackBox = Callable[[np.ndarray], np.ndarray]  # (N, C, H, W) in [0, 1] -> (N, classes) probabilities
Progress = Callable[[dict], None]

TINY = 1e-300


def log_odds(probs: np.ndarray, targets: np.ndarray | int, floor: float = TINY) -> np.ndarray:
    """log(p_t / sum_{j != t} p_j) per row, t the row's target; probabilities below `floor` (hidden
    ones are 0) count as `floor`. Probes' objective and the inference statistic alike."""
    own = probs[np.arange(len(probs)), targets]
    return np.log(np.maximum(own, floor)) - np.log(np.maximum(probs.sum(1) - own, floor))


def target_loss(probs: np.ndarray, target: int) -> np.ndarray:
    """-log p_target per row: the objective a probe minimises (METHOD.md)."""
    return -np.log(np.maximum(probs[:, target], TINY))


@dataclass
class ProbeResult:
    image: np.ndarray  # (C, H, W) float32 in [0, 1]
    target: int
    confidence: float  # p_target of `image` as last measured
    queries: int  # images sent to make this probe
    accepted: bool  # confidence reached the threshold


class ProbeOptimizer:
    """Subclasses list their parameters in `params` and implement `_generate`."""

    params: ClassVar[tuple[str, ...]] = ("threshold", "max_queries")

    def __init__(self, threshold: float = 0.9995, max_queries: int | None = 1_000_000):
        self.threshold = threshold
        self.max_queries = max_queries

    def check_params(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.max_queries is not None and self.max_queries < 1:
            raise ValueError(f"max_queries must be positive, got {self.max_queries}")

    def describe(self) -> dict:
        return {"method": self.name, **{p: getattr(self, p) for p in self.params}}

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def generate(self, black_box: BlackBox, input_shape: tuple[int, ...], target: int,
                 rng: np.random.Generator, progress: Progress | None = None) -> ProbeResult:
        """Make one probe for class `target`, starting from the optimiser's own initialisation."""
        self.check_params()
        return self._generate(black_box, tuple(input_shape), target, rng, progress or (lambda info: None))

    def _generate(self, black_box: BlackBox, input_shape: tuple[int, ...], target: int,
                  rng: np.random.Generator, progress: Progress) -> ProbeResult:
        raise NotImplementedError
