"""Paper-faithful ZOO probe generation (Chen et al. 2017, as the paper's code runs it; METHOD.md).

Start from x = clip(N(0, 1) noise, 0, 1) and minimise -log p_c(x) over [0, 1]^N:

- one iteration picks `nb_parallel` random coordinates and sends x +- h e_j for each of them
  (2 * nb_parallel images) in one batch, estimates each coordinate's derivative by the
  symmetric difference, takes a per-coordinate Adam step and clips x to [0, 1]; then one more
  query measures the new loss;
- a try runs up to `max_iter` iterations and stops early when the loss, checked every
  `max_iter // 10` iterations, improved by less than 0.01 %; it keeps its best point;
- up to `tries` tries continue from the best point so far, each with fresh Adam state; after a
  try that reaches p_c > 0.9 the learning rate drops to `lr_confident`;
- a probe is accepted when p_c >= threshold; after `tries` failed tries the loop starts again
  from fresh noise, as the paper's loop does, until `max_queries` is spent.

`early_accept` (off by default, not the paper's) ends a try as soon as the loss measured after
an iteration shows p_c >= threshold. The paper's loop checks only after a whole try, by which
time p_c has usually overshot to 0.99999+; such saturated probes can barely drop any further,
so the plain beta statistic loses most of its signal on them (docs/attack.md measures this).

One deliberate difference: where x +- h leaves [0, 1] the point is clipped and the difference
divided by the actual step, since the server (rightly) refuses pixels outside [0, 1].
"""

from __future__ import annotations

import numpy as np

from attacker.optimizers.base import BlackBox, ProbeOptimizer, ProbeResult, Progress, target_loss
from shared.schemas import ZooParams


class Zoo(ProbeOptimizer):
    name = "zoo"
    Params = ZooParams

    def _generate(self, black_box: BlackBox, input_shape: tuple[int, ...], target: int,
                  rng: np.random.Generator, progress: Progress) -> ProbeResult:
        size = int(np.prod(input_shape))
        if self.nb_parallel > size:
            raise ValueError(f"nb_parallel {self.nb_parallel} exceeds the {size} input coordinates")
        run = _Run(black_box, target, self.max_queries, input_shape)
        best_x, best_p = None, -1.0
        while True:  # restarts from fresh noise
            x = np.clip(rng.standard_normal(size), 0.0, 1.0).astype(np.float32)
            lr = self.lr
            for attempt in range(self.tries):
                x = self._try(run, x, lr, rng, progress)
                p = run.confidence(x)
                if p > best_p:
                    best_x, best_p = x, p
                progress({"event": "try", "try": attempt, "confidence": p, "best": best_p, "queries": run.queries})
                if p >= self.threshold or run.exhausted:
                    return ProbeResult(best_x.reshape(input_shape), target, best_p, run.queries,
                                       best_p >= self.threshold)
                if p > 0.9:
                    lr = self.lr_confident

    def _try(self, run: _Run, x: np.ndarray, lr: float, rng: np.random.Generator, progress: Progress) -> np.ndarray:
        """Up to `max_iter` coordinate-Adam iterations from x; returns the best point seen."""
        size = x.size
        mean, var = np.zeros(size, np.float32), np.zeros(size, np.float32)
        steps = np.ones(size, np.int64)
        best_x, best_loss, prev_loss = x.copy(), np.inf, 1e8
        check_every = max(self.max_iter // 10, 1)
        for it in range(self.max_iter):
            idx = rng.choice(size, self.nb_parallel, replace=False)
            plus = np.minimum(x[idx] + self.h, 1.0)
            minus = np.maximum(x[idx] - self.h, 0.0)
            batch = np.repeat(x[None], 2 * idx.size, axis=0)
            rows = np.arange(idx.size)
            batch[2 * rows, idx] = plus
            batch[2 * rows + 1, idx] = minus
            losses = run.loss(batch)
            if losses is None:
                break
            grad = (losses[0::2] - losses[1::2]) / (plus - minus).astype(np.float64)
            mean[idx] = 0.9 * mean[idx] + 0.1 * grad
            var[idx] = 0.999 * var[idx] + 0.001 * grad**2
            t = steps[idx]
            corr = np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            x = x.copy()
            x[idx] = np.clip(x[idx] - lr * corr * mean[idx] / (np.sqrt(var[idx]) + 1e-8), 0.0, 1.0)
            steps[idx] += 1
            current = run.loss(x[None])
            if current is None:
                break
            loss = float(current[0])
            if loss < best_loss:
                best_x, best_loss = x.copy(), loss
            progress({"event": "iteration", "confidence": float(np.exp(-best_loss)), "queries": run.queries})
            if self.early_accept and np.exp(-best_loss) >= self.threshold:
                break
            if it % check_every == 0:
                if loss > 0.9999 * prev_loss:
                    break
                prev_loss = loss
        return best_x


class _Run:
    """Queries for one probe: counts them and stops at the cap."""

    def __init__(self, black_box: BlackBox, target: int, max_queries: int | None, input_shape: tuple[int, ...]):
        self.black_box, self.target, self.max_queries = black_box, target, max_queries
        self.input_shape = input_shape
        self.queries = 0
        self.exhausted = False  # a batch was refused because it would pass the cap

    def loss(self, flat_batch: np.ndarray) -> np.ndarray | None:
        """-log p_target of each row, or None once the query cap would be passed."""
        if self.max_queries is not None and self.queries + len(flat_batch) > self.max_queries:
            self.exhausted = True
            return None
        return target_loss(self._query(flat_batch), self.target)

    def confidence(self, x: np.ndarray) -> float:
        return float(self._query(x[None])[0, self.target])

    def _query(self, flat_batch: np.ndarray) -> np.ndarray:
        self.queries += len(flat_batch)
        return self.black_box(flat_batch.reshape(-1, *self.input_shape))
