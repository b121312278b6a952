"""Train the attacker's shadow models: plain SGD on public images held in memory.

The shadow imitates the service it attacks as far as the attacker can guess it: an
architecture of its choice pretrained on part of the public data, then fine-tuned on the rest
("its D_u") the way the attacker supposes the service fine-tunes. Each removal replays that
fine-tune from the same pretrained weights in the same seeded order, skipping the removed
samples, as exact unlearning does.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import torch
import torch.nn.functional as F

from shared.models import build_model
from shared.schemas import Architecture, ModelMetadata, Normalization


def shadow_model(architecture: Architecture, classes: list[str], images: np.ndarray, seed: int) -> torch.nn.Module:
    """A fresh model of the attacker's chosen architecture, normalised by its public data."""
    torch.manual_seed(seed)
    channels = images.shape[1]
    flat = images.transpose(1, 0, 2, 3).reshape(channels, -1)
    meta = ModelMetadata(version="shadow", architecture=architecture, input_shape=tuple(images.shape[1:]),
                         classes=classes, created_at=datetime.now(timezone.utc), normalization=Normalization(mean=flat.mean(1).tolist(),
                                                                      std=np.maximum(flat.std(1), 1e-3).tolist()))
    return build_model(meta)


def epoch_orders(indices: np.ndarray, seed: int, epochs: int) -> list[np.ndarray]:
    return [indices[np.random.default_rng([seed, 0x5A, e]).permutation(indices.size)] for e in range(epochs)]


def train(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, orders: list[np.ndarray], lr: float,
          momentum: float, weight_decay: float = 0.0, batch_size: int = 128, cosine: bool = False) -> torch.nn.Module:
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(orders)) if cosine else None
    for order in orders:
        for lo in range(0, order.size, batch_size):
            idx = order[lo:lo + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(torch.from_numpy(images[idx])), torch.from_numpy(labels[idx]))
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return model


@torch.inference_mode()
def probabilities(model: torch.nn.Module, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    model.eval()
    out = [torch.softmax(model(torch.from_numpy(images[lo:lo + batch_size])).double(), 1).numpy()
           for lo in range(0, len(images), batch_size)]
    return np.concatenate(out)
