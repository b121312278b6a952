"""The operator's deployment-time defenses.

- Pruning changes the served weights: global unstructured L1 pruning of all Conv/Linear
  weights (torch.nn.utils.prune), made permanent before serving.
- Output hardening changes only what a response shows: top-k, rounding, label-only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from shared.schemas import DeploymentOptions


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prune_global(model: nn.Module, rate: float) -> nn.Module:
    """Zero the `rate` fraction of smallest-magnitude Conv/Linear weights, globally; in place."""
    if rate <= 0:
        return model
    params = prunable_weights(model)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=rate)
    for module, name in params:
        prune.remove(module, name)
    return model


def harden_outputs(probs: np.ndarray, options: DeploymentOptions) -> np.ndarray:
    """Apply top-k, rounding or label-only to probability rows (float64)."""
    if options.label_only:
        out = np.zeros_like(probs)
        out[np.arange(len(probs)), probs.argmax(1)] = 1.0
        return out
    if options.top_k is not None and options.top_k < probs.shape[1]:
        cut = np.argsort(-probs, axis=1, kind="stable")[:, options.top_k:]
        probs = probs.copy()
        np.put_along_axis(probs, cut, 0.0, axis=1)
    if options.round_decimals is not None:
        probs = np.round(probs, options.round_decimals)
    return probs


def zero_weight_fraction(model: nn.Module) -> float:
    weights = [m.weight.detach() for m, _ in prunable_weights(model)]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / max(total, 1)


@torch.inference_mode()
def forward_probabilities(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Softmax in float64 of the float32 logits: small probabilities keep their precision."""
    return torch.softmax(model(x).double(), dim=1).cpu().numpy()
