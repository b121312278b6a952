"""What the server's output format leaves the attack, decided from what it discloses and what
it actually answers, so that the attacker degrades honestly instead of guessing.

- label-only answers, or top-1 (one probability per answer): probes cannot be optimised and
  their answers cannot be compared: the attack cannot rank, and says so;
- top-k (k >= 2) or rounding: probing still works (the NES optimiser floors hidden classes and
  widens its steps past the rounding), but statistics that need every probability (`logit`,
  `zlogit`) are replaced by `logodds`, and rounding can erase small changes: the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from attacker.inference import NEEDS_ALL_PROBABILITIES
from shared.schemas import ModelInfo


class CannotAttack(RuntimeError):
    """The served outputs carry no signal this attack can use."""


@dataclass
class Capabilities:
    can_probe: bool = True
    can_rank: bool = True
    all_probabilities: bool = True
    notes: list[str] = field(default_factory=list)
    labels_only: bool = False  # the answers carry the predicted label alone: the label-only attack's case

    def statistic(self, requested: str) -> str:
        if requested in NEEDS_ALL_PROBABILITIES and not self.all_probabilities:
            self.notes.append(f"statistic '{requested}' needs every probability; used 'logodds' instead")
            return "logodds"
        return requested


def from_model_info(info: ModelInfo) -> Capabilities:
    out = info.output
    if out.labels_only:
        return Capabilities(False, False, False, [labels_only_note(info) + ": no probabilities to optimise probes "
                                                  "with or to compare; the label-only attack measures distances to "
                                                  "the decision boundary instead: python -m attacker boundary "
                                                  "(docs/attack.md)"], labels_only=True)
    caps = Capabilities()
    if out.top_k is not None:
        caps.all_probabilities = False
        caps.notes.append(f"the server returns only the top-{out.top_k} probabilities")
    if out.decimals is not None:
        caps.all_probabilities = False
        caps.notes.append(f"the server rounds probabilities to {out.decimals} decimals: changes smaller than "
                          f"{0.5 * 10 ** -out.decimals:g} are invisible, and probes above "
                          f"{1 - 0.5 * 10 ** -out.decimals:g} come back one-hot (a lower --threshold keeps "
                          "them comparable)")
    return caps


def labels_only_note(info: ModelInfo) -> str:
    return ("the server returns labels only (one-hot)" if info.output.label_only else
            "the server returns only the top-1 probability")


def from_answers(probabilities: np.ndarray, caps: Capabilities) -> Capabilities:
    """Check the answers themselves: a server may harden its outputs without saying so."""
    visible = (probabilities > 0).sum(1)
    if np.all(visible <= 1):
        caps.can_rank = False
        note = "every answer to the probes has a single non-zero probability: nothing left to compare"
    elif np.any(visible < probabilities.shape[1]) and caps.all_probabilities:
        caps.all_probabilities = False
        note = "some answers hide probabilities (zeros)"
    else:
        return caps
    if note not in caps.notes:
        caps.notes.append(note)
    return caps
