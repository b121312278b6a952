"""Query-efficient probes: antithetic NES gradient estimates in a low-resolution input space.

Start from ZOO's initialisation, x0 = clip(N(0, 1) noise, 0, 1), and search a perturbation that
is piecewise constant on a `resolution` x `resolution` grid: x(z) = clip(x0 + upsample(z), 0, 1),
with z of C * resolution^2 values (192 for CIFAR at 8 x 8, against ZOO's 3,072 coordinates).
Each step sends `directions` antithetic pairs z +- sigma * u (u ~ N(0, I)) in one batch, estimates
the gradient of the log-odds loss

    L(x) = log(sum_{j != c} p_j(x)) - log p_c(x)        (= -log-odds of class c)

as sum_i (L(z + sigma u_i) - L(z - sigma u_i)) u_i / (2 sigma directions), takes an Adam step, and
measures the new point with one more query. The log-odds, unlike -log p_c, keeps its gradient as
p_c approaches 1. A probe is accepted as soon as a measured point reaches p_c >= threshold.

When `patience` steps bring no new best loss, the grid is refined (8 -> 16 -> 32: the current
image is kept, the search continues with four times the freedom); only once the grid has reached
the input's full resolution does the search restart from fresh noise.

Against hardened outputs: hidden probabilities (top-k) count as a floor, so L still falls as the
visible competitors lose mass until c appears; when every antithetic difference comes back zero
(rounded outputs), sigma doubles (up to 0.5) so the steps reach past the rounding.
"""

from __future__ import annotations

import math

import numpy as np

from attacker.optimizers.base import BlackBox, ProbeOptimizer, ProbeResult, Progress, log_odds
from shared.schemas import NESParams

FLOOR = 1e-12  # probability given to classes whose probability is hidden (0 in the answer)


def log_odds_loss(probs: np.ndarray, target: int) -> np.ndarray:
    """-log-odds of `target` per row, with hidden (zero) probabilities floored."""
    return -log_odds(probs, target, FLOOR)


def upsample(z: np.ndarray, shape: tuple[int, int, int], resolution: int) -> np.ndarray:
    """(n, C * r * r) grid values -> (n, C, H, W), nearest neighbour."""
    channels, height, width = shape
    grid = z.reshape(len(z), channels, resolution, resolution)
    fy, fx = math.ceil(height / resolution), math.ceil(width / resolution)
    return np.repeat(np.repeat(grid, fy, axis=2), fx, axis=3)[:, :, :height, :width]


class LowResNES(ProbeOptimizer):
    name = "nes"
    Params = NESParams

    def _generate(self, black_box: BlackBox, input_shape: tuple[int, ...], target: int,
                  rng: np.random.Generator, progress: Progress) -> ProbeResult:
        queries, best_x, best_p = 0, None, -1.0

        def ask(batch: np.ndarray) -> np.ndarray:
            nonlocal queries
            queries += len(batch)
            return black_box(batch.astype(np.float32))

        while True:  # restarts from fresh noise
            base = np.clip(rng.standard_normal((1, *input_shape)), 0.0, 1.0)
            resolution = self.resolution
            while True:  # refinements of the grid
                dim = input_shape[0] * resolution**2
                z, mean, var = np.zeros(dim), np.zeros(dim), np.zeros(dim)
                sigma, step, stale, run_best = self.sigma, 0, 0, np.inf
                while True:
                    x = np.clip(base + upsample(z[None], input_shape, resolution), 0.0, 1.0)
                    p = ask(x)
                    p_target, loss = float(p[0, target]), float(log_odds_loss(p, target)[0])
                    if p_target > best_p:
                        best_x, best_p = x[0], p_target
                    progress({"event": "step", "confidence": best_p, "queries": queries})
                    if p_target >= self.threshold:
                        return ProbeResult(x[0].astype(np.float32), target, p_target, queries, True)
                    if self.max_queries is not None and queries + 2 * self.directions + 1 > self.max_queries:
                        return ProbeResult(best_x.astype(np.float32), target, best_p, queries, False)
                    stale = 0 if loss < run_best - 1e-6 else stale + 1
                    run_best = min(run_best, loss)
                    if stale >= self.patience:
                        break
                    u = rng.standard_normal((self.directions, dim))
                    pairs = np.concatenate([z + sigma * u, z - sigma * u])
                    answers = ask(np.clip(base + upsample(pairs, input_shape, resolution), 0.0, 1.0))
                    losses = log_odds_loss(answers, target)
                    diff = losses[:self.directions] - losses[self.directions:]
                    if not np.any(diff):
                        sigma = min(2 * sigma, 0.5)  # the answers are too coarse for steps this small
                        continue
                    grad = (diff[:, None] * u).sum(0) / (2 * sigma * self.directions)
                    step += 1
                    mean = 0.9 * mean + 0.1 * grad
                    var = 0.999 * var + 0.001 * grad**2
                    z -= self.lr * (mean / (1 - 0.9**step)) / (np.sqrt(var / (1 - 0.999**step)) + 1e-8)
                if resolution >= max(input_shape[1:]):
                    break  # stuck at full resolution: fresh noise
                base = x  # keep what was found; search a finer grid around it
                resolution *= 2
