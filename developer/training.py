"""Training and evaluation loops over uint8 image arrays, with progress bars.

An epoch is given as an explicit order of sample indices, so that two runs that should see the
same data in the same order (the original fine-tune and exact unlearning by retraining) can be
built from one seeded permutation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from shared.runtime import to_model_layout

log = logging.getLogger("developer.training")


def image_batch(images: np.ndarray, idx: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) rows `idx` -> float (n, C, H, W) in [0, 1] on `device`."""
    x = torch.from_numpy(images[idx]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    return to_model_layout(x, device)


@dataclass
class EpochStats:
    loss: float
    accuracy: float
    images: int
    seconds: float


def train_epochs(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    orders: Sequence[np.ndarray],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    batch_size: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_noise: float = 0.0,
    noise_seed: int = 0,
    freeze_batchnorm: bool = False,
    desc: str = "train",
) -> list[EpochStats]:
    """One pass over each order in `orders`.

    `grad_noise` > 0 adds N(0, grad_noise^2) to every gradient. `freeze_batchnorm` keeps
    BatchNorm layers in eval mode: their running statistics do not change.
    """
    model.to(device).train()
    if freeze_batchnorm:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
    generator = torch.Generator(device=device).manual_seed(noise_seed) if grad_noise > 0 else None
    history = []
    for epoch, order in enumerate(orders):
        loss_sum, correct, seen, start = 0.0, 0, 0, time.perf_counter()
        bar = tqdm(range(0, order.size, batch_size), desc=f"{desc} {epoch + 1}/{len(orders)}", unit="batch",
                   leave=False, dynamic_ncols=True)
        for lo in bar:
            idx = order[lo:lo + batch_size]
            x = image_batch(images, idx, device)
            y = torch.from_numpy(labels[idx]).to(device)
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            if generator is not None:
                add_gradient_noise(model, grad_noise, generator)
            optimizer.step()
            loss_sum += loss.item() * idx.size
            correct += (logits.argmax(1) == y).sum().item()
            seen += idx.size
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                            img_s=f"{seen / (time.perf_counter() - start):.0f}")
        if scheduler is not None:
            scheduler.step()
        stats = EpochStats(loss_sum / max(seen, 1), correct / max(seen, 1), seen, time.perf_counter() - start)
        log.info("%s epoch %d/%d: loss %.4f acc %.4f (%.0f img/s)", desc, epoch + 1, len(orders), stats.loss,
                 stats.accuracy, stats.images / max(stats.seconds, 1e-9))
        history.append(stats)
    return history


def add_gradient_noise(model: torch.nn.Module, sigma: float, generator: torch.Generator) -> None:
    for p in model.parameters():
        if p.grad is not None:
            p.grad.add_(torch.randn(p.grad.shape, generator=generator, device=p.grad.device, dtype=p.grad.dtype),
                        alpha=sigma)


@torch.inference_mode()
def evaluate(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, idx: np.ndarray,
             device: torch.device, batch_size: int = 1000) -> float:
    """Top-1 accuracy on the rows `idx`."""
    model.to(device).eval()
    correct = 0
    for lo in tqdm(range(0, idx.size, batch_size), desc="evaluate", unit="batch", leave=False):
        part = idx[lo:lo + batch_size]
        pred = model(image_batch(images, part, device)).argmax(1).cpu().numpy()
        correct += int((pred == labels[part]).sum())
    return correct / max(idx.size, 1)
