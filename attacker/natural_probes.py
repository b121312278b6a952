"""Natural probes: the public images the served model gives each class most confidently.

Needs the public-data capability (attacker/public_data.py). The served version answers the
public images once (one query each); for each class c the `per_class` images it assigns to c with
the highest p_c become c's probes. They are ordinary in-domain images, so their answers move with
the model's view of c rather than with the fragile corner of input space a synthetic probe sits
in, and there can be far more of them for the price of one query each.

The probe set looks like any other (probes.npz, probing.json with `NaturalParams` as its method,
the public source among its capabilities), so snapshots, inference and reports work unchanged.
The pool's queries are spread over the probes so that their sum is what was sent.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console

from attacker.capabilities import CannotAttack
from attacker.client import InferenceClient
from attacker.optimizers import ProbeResult
from attacker.probes import ProbeSet
from attacker.public_data import PublicImages
from shared.schemas import NaturalParams


def choose_natural(probabilities: np.ndarray, per_class: int) -> list[tuple[int, int, int]]:
    """(class, k, pool index) of each class's `per_class` most confident images among those the
    model assigns to it; a class the model gives fewer images gets fewer probes."""
    assigned = probabilities.argmax(1)
    chosen = []
    for c in range(probabilities.shape[1]):
        members = np.flatnonzero(assigned == c)
        best = members[np.argsort(-probabilities[members, c], kind="stable")][:per_class]
        chosen += [(c, k, int(i)) for k, i in enumerate(best)]
    return chosen


class NaturalProbes:
    """Fills a probe set in one step from the public pool (`NaturalParams.pool` images of it)."""

    needs_public_data = True

    def __init__(self, params: NaturalParams):
        self.params = params

    def fill(self, probe_set: ProbeSet, client: InferenceClient, targets: list[int], public: PublicImages | None,
             console: Console) -> None:
        if probe_set.results:  # made in one step: a saved set is complete
            return
        if public is None:
            raise ValueError("natural probes need the public-data capability: pass --public-data")
        if len(targets) != len(probe_set.classes):
            raise ValueError("natural probes are chosen for every class at once: drop --classes")
        console.print(f"asking {len(public.images):,} public images of {public.source} ...")
        probabilities, _ = client.predict(public.images)
        chosen = choose_natural(probabilities, probe_set.config.spec.per_class)
        if not chosen:
            raise CannotAttack("the model assigns none of the public images to any class")
        share, extra = divmod(len(public.images), len(chosen))
        probe_set.add_all({(c, k): ProbeResult(public.images[i], c, float(probabilities[i, c]), share + (n < extra), True)
                           for n, (c, k, i) in enumerate(chosen)})
        counts = np.bincount([c for c, _, _ in chosen], minlength=len(probe_set.classes))
        console.print("natural probes per class: " + ", ".join(f"{name} {n}" for name, n in
                                                              zip(probe_set.classes, counts)))
