"""Distances to the decision boundary along fixed random directions, from labels only.

Cost, in images sent, for N inputs and K directions: N (the inputs' labels), N K (the far end of
every segment: does the label change at all within max_radius?) and one image per bisection step
for each segment whose label changes: at most N (1 + K (1 + steps)), 89 per input with the
defaults. A segment whose label does not change within max_radius is censored at max_radius (not
bisected; the report says how many were).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.schemas import BoundaryParams

LabelsOf = Callable[[np.ndarray], np.ndarray]  # (M, C, H, W) in [0, 1] -> (M,) labels


@dataclass
class BoundaryMeasurement:
    labels: np.ndarray  # (N,) the label of each input (t = 0)
    distances: np.ndarray  # (N, K) midpoint of the final bracket; max_radius where censored
    entered: np.ndarray  # (N, K) the label on the far side of the boundary; -1 where censored
    censored: np.ndarray  # (N, K) bool: no label change within max_radius
    queries: int  # images sent

    @property
    def censored_fraction(self) -> float:
        return float(self.censored.mean()) if self.censored.size else 0.0


class BoundaryDistance:
    """The measurement, with declared parameters (`BoundaryParams`, validated on construction)."""

    name = "boundary"
    Params = BoundaryParams

    def __init__(self, params: BoundaryParams | None = None, **overrides):
        if params is not None and overrides:
            raise TypeError("give either a Params model or keyword parameters, not both")
        self.params = params if params is not None else BoundaryParams(**overrides)

    def describe(self) -> BoundaryParams:
        return self.params

    def directions_for(self, count: int, input_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """(count, K, *input_shape) float32 directions, each of L2 norm 1: isotropic Gaussian,
        normalised, so no direction in pixel space is favoured."""
        u = rng.standard_normal((count, self.params.directions, *input_shape)).astype(np.float32)
        norms = np.sqrt((u.reshape(count, self.params.directions, -1).astype(np.float64) ** 2).sum(-1))
        return (u / norms.reshape(count, self.params.directions, *([1] * len(input_shape)))).astype(np.float32)

    def generate(self, labels_of: LabelsOf, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N, K) distances along K directions drawn from `rng`; `measure` with saved directions
        is the same measurement when the directions must be reused (before and after)."""
        directions = self.directions_for(len(images), tuple(images.shape[1:]), rng)
        return self.measure(labels_of, images, directions).distances

    def measure(self, labels_of: LabelsOf, images: np.ndarray, directions: np.ndarray) -> BoundaryMeasurement:
        p = self.params
        x = np.asarray(images, dtype=np.float32)
        n, k = len(x), p.directions
        if directions.shape != (n, k, *x.shape[1:]):
            raise ValueError(f"directions of shape {directions.shape} do not fit {n} inputs x {k} directions of "
                             f"shape {x.shape[1:]}")
        if x.min(initial=0.0) < 0 or x.max(initial=0.0) > 1:
            raise ValueError("inputs must lie in [0, 1]")
        queries = 0

        def ask(batch: np.ndarray) -> np.ndarray:
            nonlocal queries
            queries += len(batch)
            return np.asarray(labels_of(batch)).astype(np.int64).reshape(len(batch))

        def along(pairs: np.ndarray, t: np.ndarray) -> np.ndarray:
            # clipped, because the server rejects pixels outside [0, 1]; past a face of the cube the
            # point slides along it, which both versions see alike (same inputs, same directions)
            i, j = np.divmod(pairs, k)
            step = t.astype(np.float32).reshape(-1, *([1] * (x.ndim - 1)))
            return np.clip(x[i] + step * directions[i, j], 0.0, 1.0)

        labels = ask(x)
        pairs = np.arange(n * k)
        own = np.repeat(labels, k)
        # one batch for the far ends: a segment whose label never changes is not worth bisecting
        far = ask(along(pairs, np.full(n * k, p.max_radius)))
        changes = far != own
        lo, hi = np.zeros(n * k), np.full(n * k, p.max_radius)
        entered = np.where(changes, far, -1)
        active = pairs[changes]
        for _ in range(p.steps):  # all active segments of one bisection step in one batch
            if len(active) == 0:
                break
            mid = (lo[active] + hi[active]) / 2
            got = ask(along(active, mid))
            flipped = got != own[active]
            hi[active[flipped]] = mid[flipped]
            entered[active[flipped]] = got[flipped]
            lo[active[~flipped]] = mid[~flipped]
        # the midpoint of the final bracket: within resolution of a crossing (the first one when
        # the label changes once along the segment; bisection cannot see a change and a change back)
        distances = np.where(changes, (lo + hi) / 2, p.max_radius)
        return BoundaryMeasurement(labels, distances.reshape(n, k), entered.reshape(n, k),
                                   ~changes.reshape(n, k), queries)
