"""The white-box ceiling: how well the update itself names the class, read from the stored weights
as the server's operator reads them (recovery/labels.py: the last Linear layer of θ_u − θ), beside
what the black-box attacker gets from the outputs on the same case.

Two readings of the last layer's change, each a per-class score, most negative first: its bias
difference, and the row sums of its weight difference (the same sign for non-negative features).
Each gives the rank of the truth (top-N as for the attacker) and a detection score — how far the
top class stands out from the others, its separation in robust SDs — so the operator's reading can
be held against the same null updates as the attacker's.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict
from torch import nn

from attacker import separation
from developer.pipeline import TrainedVersion
from evaluation.truth_rank import rank_of_truth
from recovery.difference import parameter_difference
from recovery.errors import RecoveryInputError
from recovery.versions import load_pair


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int | None  # of the truth (the lowest-ranked removed class); None for a null update
    detection: float  # the top class's separation from the others


class WhiteBox(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bias: Reading
    rows: Reading


def white_box(original: TrainedVersion, unlearned: TrainedVersion, truth: list[str]) -> WhiteBox | None:
    """None when the two versions cannot be compared (identical parameters)."""
    try:
        pair = load_pair(original.path, unlearned.path)
    except RecoveryInputError:
        return None
    target = parameter_difference(pair)
    last = [name for name, module in pair.after.model.named_modules() if isinstance(module, nn.Linear)][-1]
    classes = pair.after.meta.classes
    bias = target.by_name(f"{last}.bias").numpy().astype(float)
    rows = target.by_name(f"{last}.weight").sum(dim=1).numpy().astype(float)
    return WhiteBox(bias=reading(bias, classes, truth), rows=reading(rows, classes, truth))


def reading(scores: np.ndarray, classes: list[str], truth: list[str]) -> Reading:
    return Reading(rank=rank_of_truth(scores, classes, truth), detection=round(float(separation(scores).max()), 4))
