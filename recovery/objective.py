"""The recovery objective: 1 − cos(∇_θ L(θ; x, y), ∇*) + α·TV(x) (Geiping et al., METHOD.md).

The model is in eval mode, as during approximate unlearning (BatchNorm uses its running statistics),
so one image's gradient does not depend on the others' batch statistics. The gradient is built with
create_graph so that the objective can be differentiated once more, with respect to x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def parameter_gradients(model: torch.nn.Module, params: list[torch.Tensor], x: torch.Tensor,
                        y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    loss = F.cross_entropy(model(x), y)  # mean over the batch, as the developer's unlearning step
    return torch.autograd.grad(loss, params, create_graph=True)


def cosine_distance(grads: tuple[torch.Tensor, ...], target: list[torch.Tensor], target_norm: float) -> torch.Tensor:
    dot = sum((g * t).sum() for g, t in zip(grads, target))
    norm = torch.sqrt(sum((g * g).sum() for g in grads))
    return 1 - dot / (norm * target_norm + 1e-12)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, across and down (anisotropic TV)."""
    return (x[..., :, 1:] - x[..., :, :-1]).abs().mean() + (x[..., 1:, :] - x[..., :-1, :]).abs().mean()


def objective(model: torch.nn.Module, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor,
              target: list[torch.Tensor], target_norm: float, tv_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(total objective, cosine distance alone)."""
    distance = cosine_distance(parameter_gradients(model, params, x, y), target, target_norm)
    return distance + tv_weight * total_variation(x), distance
