"""Approximate unlearning and the fine-tuning defense, as functions on a model.

Exact unlearning is a replay of the fine-tune without X (see pipeline.py); these are the rest:

- gradient ascent on X from the current weights (METHOD.md): for `steps` = max(1, epochs *
  |X| // batch) steps, theta <- theta + lr * grad L(theta; batch of X), batches taken in turn,
  BatchNorm in eval mode (its statistics are left alone), optionally with N(0, sigma^2) noise
  added to every gradient (parameter obfuscation);
- fine-tuning on held-out public data after unlearning, to blur what the unlearning changed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from developer.training import add_gradient_noise, image_batch


def ascent_steps(n_forget: int, epochs: int, batch_size: int) -> int:
    return max(1, epochs * n_forget // batch_size)


def gradient_ascent(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, forget: np.ndarray,
                    device: torch.device, *, lr: float, epochs: int, batch_size: int, noise_sigma: float = 0.0,
                    noise_seed: int = 0) -> dict:
    """Raise the loss on the samples `forget` (indices into `images`); in place. Returns a summary."""
    if forget.size == 0:
        raise ValueError("nothing to unlearn: the forget set is empty")
    model.to(device).eval()
    batch_size = min(batch_size, forget.size)
    steps = ascent_steps(forget.size, epochs, batch_size)
    n_batches = max(forget.size // batch_size, 1)
    generator = torch.Generator(device=device).manual_seed(noise_seed) if noise_sigma > 0 else None
    losses = []
    for step in tqdm(range(steps), desc="gradient ascent", unit="step", leave=False):
        idx = forget[(step % n_batches) * batch_size:(step % n_batches + 1) * batch_size]
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(image_batch(images, idx, device)), torch.from_numpy(labels[idx]).to(device))
        loss.backward()
        if generator is not None:
            add_gradient_noise(model, noise_sigma, generator)
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.add_(p.grad, alpha=lr)
        losses.append(loss.item())
    model.zero_grad(set_to_none=True)
    return {"steps": steps, "ascent_loss_first": round(losses[0], 4), "ascent_loss_last": round(losses[-1], 4)}


def heldout_public_slice(d0: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A seeded slice of the public data D0 for the fine-tuning defense."""
    if size > d0.size:
        raise ValueError(f"the fine-tuning defense asks for {size} public samples; D0 has {d0.size}")
    return np.sort(np.random.default_rng([seed, 0xF1]).choice(d0, size=size, replace=False))


@torch.no_grad()
def loss_on(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, idx: np.ndarray,
            device: torch.device) -> float:
    """Mean cross-entropy of the model (eval mode) on the samples `idx`."""
    model.to(device).eval()
    total = 0.0
    for lo in range(0, idx.size, 512):
        part = idx[lo:lo + 512]
        logits = model(image_batch(images, part, device))
        total += F.cross_entropy(logits, torch.from_numpy(labels[part]).to(device), reduction="sum").item()
    return total / max(idx.size, 1)
