"""Where the label-only attack's inputs come from, and which of them are measured.

An attacker with no data sends seeded noise: half uniform, half low-frequency (uniform on an
8 x 8 grid, upsampled), which a CNN sees as smoother, more image-like regions and labels more
diversely than white noise. With the public-data capability, a seeded subset of public images.
Of the pool, up to `per_class` inputs per label the first version gives are kept (balanced,
because noise falls mostly into two or three classes and a class's score is a mean over its own
inputs).
"""

from __future__ import annotations

import numpy as np

LOW_FREQUENCY = 8  # the grid of the low-frequency noise inputs (8 x 8, upsampled bilinearly)


def upsample(low: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of (..., h, w) to (..., height, width), as two interpolation matrices."""
    def weights(n_out: int, n_in: int) -> np.ndarray:
        pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5  # pixel centres, aligned as PIL does
        pos = np.clip(pos, 0, n_in - 1)
        left = np.minimum(np.floor(pos).astype(int), n_in - 2) if n_in > 1 else np.zeros(n_out, int)
        frac = pos - left
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), left] += 1 - frac
        if n_in > 1:
            m[np.arange(n_out), left + 1] += frac
        return m
    return np.einsum("hi,...ij,wj->...hw", weights(height, low.shape[-2]), low, weights(width, low.shape[-1]))


def noise_inputs(count: int, input_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Inputs for an attacker with no data: half uniform noise, half low-frequency noise (uniform
    on an 8 x 8 grid, upsampled), which a CNN sees as smoother, more image-like regions and labels
    more diversely than white noise."""
    c, h, w = input_shape
    uniform = rng.random((count - count // 2, c, h, w))
    smooth = upsample(rng.random((count // 2, c, min(LOW_FREQUENCY, h), min(LOW_FREQUENCY, w))), h, w)
    return np.clip(np.concatenate([uniform, smooth]), 0, 1).astype(np.float32)


def choose_balanced(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Pool indices: for each class, the first `per_class` pool inputs the model gives it (a class
    it gives fewer gets fewer). Balanced, because noise falls mostly into two or three classes and
    a class's score is a mean over its own inputs."""
    chosen = [np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)


