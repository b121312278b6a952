"""The optimisation: find images x ∈ [0,1]^N whose gradient points along ∇*.

Adam on the pixels, a step along the sign of the pixel gradient (signed gradients), the learning
rate multiplied by `lr_decay` at 3/8, 5/8 and 7/8 of the run, pixels clipped to [0,1] after every
step (the box constraint). Each restart starts from its own seeded random image; the restart with
the lowest final objective wins — the operator has no truth to choose by, only the objective.

Invariant: the same config, model, target and labels give the same images: every random start is
drawn from a CPU generator seeded with (seed, restart), independent of the device and of any
global random state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from recovery.config import RecoveryConfig
from recovery.objective import objective


@dataclass
class RestartTrace:
    final_objective: float
    final_distance: float
    curve: list[float] = field(default_factory=list)  # the objective every config.curve_every iterations


@dataclass
class Inversion:
    images: torch.Tensor  # (n, C, H, W) in [0, 1], on the CPU
    best_restart: int
    restarts: list[RestartTrace]


def initial_images(shape: tuple[int, ...], config: RecoveryConfig, restart: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + restart)
    if config.init == "uniform":
        return torch.rand(shape, generator=generator)
    return (0.5 + 0.25 * torch.randn(shape, generator=generator)).clamp_(0, 1)


def invert(model: torch.nn.Module, target: list[torch.Tensor], target_norm: float, labels: torch.Tensor,
           image_shape: tuple[int, int, int], config: RecoveryConfig, device: torch.device,
           desc: str = "recovery") -> Inversion:
    model = model.to(device).eval()
    params = [p for p in model.parameters()]
    for p in params:
        p.requires_grad_(True)
    target = [t.to(device) for t in target]
    labels = labels.to(device)
    shape = (labels.numel(), *image_shape)
    traces: list[RestartTrace] = []
    results: list[torch.Tensor] = []
    bar = tqdm(total=config.iterations * config.restarts, desc=desc, unit="it", dynamic_ncols=True, mininterval=1.0)
    for restart in range(config.restarts):
        x = initial_images(shape, config, restart).to(device).requires_grad_(True)
        optimizer = torch.optim.Adam([x], lr=config.lr)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=config.milestones(),
                                                         gamma=config.lr_decay)
        trace = RestartTrace(float("nan"), float("nan"))
        for it in range(config.iterations):
            total, distance = objective(model, params, x, labels, target, target_norm, config.tv_weight)
            (grad,) = torch.autograd.grad(total, x)
            x.grad = grad.sign() if config.signed else grad
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            if it % config.curve_every == 0:
                trace.curve.append(float(total.detach()))
                bar.set_postfix(restart=restart + 1, objective=f"{float(total.detach()):.4f}", refresh=False)
            bar.update(1)
        total, distance = _final(model, params, x, labels, target, target_norm, config.tv_weight)
        trace.final_objective, trace.final_distance = total, distance
        trace.curve.append(total)
        traces.append(trace)
        results.append(x.detach().cpu())
    bar.close()
    best = min(range(len(traces)), key=lambda r: (traces[r].final_objective, r))
    return Inversion(results[best], best, traces)


def _final(model, params, x, labels, target, target_norm, tv_weight) -> tuple[float, float]:
    """The objective at the final images (a gradient is needed for it, so not under no_grad)."""
    with torch.enable_grad():
        total, distance = objective(model, params, x.detach(), labels, target, target_norm, tv_weight)
    return float(total.detach()), float(distance.detach())
