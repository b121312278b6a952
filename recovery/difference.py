"""∇*: the parameter difference θ_u − θ, the operator's estimate of the gradient on the forgotten data.

Both unlearning methods leave θ_u − θ pointing along +∇_θ L(θ; X):

- approximate unlearning ascends the loss on X: θ_u = θ + η Σ ∇L(X), exactly that direction;
- exact unlearning retrains from the pretrained weights without X, so θ took the descent steps on X
  that θ_u never took: θ − θ_u ≈ −η Σ ∇L(X), i.e. again θ_u − θ ≈ +η Σ ∇L(X), plus the drift of
  two trajectories that saw different batches.

So the operator, who does not know which method the developer used, needs no sign or scale of its
own: the cosine objective ignores the scale, and the sign is the same for both. Only trainable
parameters count; BatchNorm running statistics are buffers that approximate unlearning (run in
eval mode) leaves alone, so a change in them is reported as a sign that the gradient model fits
less well (training-mode fine-tuning), not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from recovery.versions import VersionPair


@dataclass(frozen=True)
class TargetGradient:
    names: list[str]
    tensors: list[torch.Tensor]  # θ_u − θ per trainable parameter, in model.named_parameters() order
    norm: float
    changed_buffers: list[str]

    def by_name(self, name: str) -> torch.Tensor:
        return self.tensors[self.names.index(name)]


def parameter_difference(pair: VersionPair) -> TargetGradient:
    before = dict(pair.before.model.named_parameters())
    after = dict(pair.after.model.named_parameters())
    names = list(before)
    tensors = [(after[n].detach() - before[n].detach()).float() for n in names]
    norm = float(torch.sqrt(sum((t * t).sum() for t in tensors)))
    buffers_before = dict(pair.before.model.named_buffers())
    buffers_after = dict(pair.after.model.named_buffers())
    changed = [n for n, b in buffers_before.items()
               if b.is_floating_point() and not torch.equal(b, buffers_after[n])]
    return TargetGradient(names, tensors, norm, changed)
