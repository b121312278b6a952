"""Natural probes: the public images the served model gives each class most confidently.

Needs the public-data capability (attacker/public_data.py). The served version answers the
public images once (one query each); for each class c the `per_class` images it assigns to c with
the highest p_c become c's probes. They are ordinary in-domain images, so their answers move with
the model's view of c rather than with the fragile corner of input space a synthetic probe sits
in, and there can be far more of them for the price of one query each.

The probe set looks like any other (probes.npz, probing.json; `optimizer` says `natural` and
names the source), so snapshots, inference and reports work unchanged. The pool's queries are
spread over the probes so that their sum is what was sent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

from attacker.capabilities import CannotAttack, from_model_info
from attacker.client import InferenceClient
from attacker.optimizers import ProbeResult
from attacker.probe_config import ProbeSetConfig
from attacker.probes import ProbeSet
from attacker.public_data import PublicImages

NATURAL = "natural"


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


def make_natural_probes(client: InferenceClient, run_dir: Path, public: PublicImages, per_class: int, seed: int,
                        console: Console | None = None) -> ProbeSet:
    console = console or Console(stderr=True)
    info = client.model_info()
    caps = from_model_info(info)
    if not caps.can_probe:
        raise CannotAttack("; ".join(caps.notes))
    config = ProbeSetConfig(version=info.version, input_shape=info.input_shape, classes=info.classes,
                            optimizer={"name": NATURAL, "source": public.source, "pool": len(public.images)},
                            per_class=per_class, seed=seed)
    probe_set = ProbeSet.open(run_dir, config)
    if probe_set.results:  # made in one step: a saved set is complete
        return probe_set
    client.pinned_version = info.version
    client.phase = "probing"
    console.print(f"asking {len(public.images):,} public images of {public.source} ...")
    probabilities, _ = client.predict(public.images)
    chosen = choose_natural(probabilities, per_class)
    if not chosen:
        raise CannotAttack("the model assigns none of the public images to any class")
    share, extra = divmod(len(public.images), len(chosen))
    for n, (c, k, i) in enumerate(chosen):
        probe_set.results[(c, k)] = ProbeResult(public.images[i], c, float(probabilities[i, c]),
                                                share + (n < extra), True)
    probe_set.add(*chosen[0][:2], probe_set.results[chosen[0][:2]])  # save once, with every probe
    counts = np.bincount([c for c, _, _ in chosen], minlength=len(info.classes))
    console.print("natural probes per class: " + ", ".join(f"{name} {n}" for name, n in zip(info.classes, counts)))
    return probe_set
