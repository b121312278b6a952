"""Labels of the forgotten images, read from the last layer of ∇* (Zhao et al.'s iDLG idea).

For cross-entropy, the gradient of the last Linear layer's bias is mean_i (softmax_i − onehot(y_i)):
every entry is positive except at the true labels, where it is negative. ∇* points along +∇L(X)
(difference.py), so the classes with negative bias differences are the forgotten images' labels.
Without a bias the weight rows carry the same sign, because the features entering the last layer
are non-negative (ReLU, max-pooling): row sums of ∇W = (p − y) hᵀ have the sign of p − y.

For n images: the classes with negative scores, most negative first; when fewer than n classes are
negative (several images share a label), the negative ones are repeated in that order; when more,
the n most negative are kept. A guess from the gradient alone, reported as such.
"""

from __future__ import annotations

from torch import nn

from recovery.difference import TargetGradient


def last_linear_scores(model: nn.Module, target: TargetGradient) -> list[float]:
    """One score per class: the last Linear layer's bias difference (or weight row sums)."""
    prefix = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            prefix = name
    if prefix is None:
        raise ValueError("the model has no Linear layer to read labels from")
    bias_name, weight_name = f"{prefix}.bias", f"{prefix}.weight"
    if bias_name in target.names:
        return target.by_name(bias_name).tolist()
    return target.by_name(weight_name).sum(dim=1).tolist()


def infer_labels(scores: list[float], count: int) -> list[int]:
    ranked = sorted(range(len(scores)), key=lambda c: (scores[c], c))
    negative = [c for c in ranked if scores[c] < 0] or ranked[:1]
    return [negative[i % len(negative)] for i in range(count)]


def label_ranking(scores: list[float]) -> list[int]:
    """All classes, most likely forgotten first."""
    return sorted(range(len(scores)), key=lambda c: (scores[c], c))
