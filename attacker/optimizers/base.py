"""The interface every probe optimiser follows (in the manner of IBM ART's attacks):
declared parameters (a pydantic model in shared/schemas/probe_methods.py: one declaration,
validated on construction, from which the CLI flags and the grids' fields are derived) and one
`generate`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from shared.schemas import ProbeParams

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
    """Subclasses declare `name` (their `Params`' name) and their `Params` model and implement `_generate`.

    Parameters are validated when the optimiser is made (a pydantic model), so a bad value never
    reaches an expensive run; what depends on the input's shape is checked in `_generate`."""

    name: ClassVar[str]
    Params: ClassVar[type[ProbeParams]] = ProbeParams

    def __init__(self, params: ProbeParams | None = None, **overrides):
        if params is not None and overrides:
            raise TypeError("give either a Params model or keyword parameters, not both")
        self.params = params if params is not None else self.Params(**overrides)

    def __getattr__(self, name: str):
        # read access to the parameters as attributes (self.lr): the Params model stays the one copy
        params = self.__dict__.get("params")
        if params is not None and name in type(params).model_fields:
            return getattr(params, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def describe(self) -> ProbeParams:
        """What a probe set and a report record of how the probes were made."""
        return self.params

    def generate(self, black_box: BlackBox, input_shape: tuple[int, ...], target: int,
                 rng: np.random.Generator, progress: Progress | None = None) -> ProbeResult:
        """Make one probe for class `target`, starting from the optimiser's own initialisation."""
        return self._generate(black_box, tuple(input_shape), target, rng, progress or (lambda info: None))

    def _generate(self, black_box: BlackBox, input_shape: tuple[int, ...], target: int,
                  rng: np.random.Generator, progress: Progress) -> ProbeResult:
        raise NotImplementedError
