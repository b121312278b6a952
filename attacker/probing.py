"""Synthetic probes: for each class, `per_class` probes from the chosen optimiser (ZOO, NES).

Every probe is saved as soon as it is made, so a run stopped for any reason (Ctrl-C, an
exhausted query budget, a server restart) resumes where it stopped. Probes must all come from
one model version: the campaign pins the client to it, and a change of version mid-probing stops
probing with `VersionChanged`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attacker.client import InferenceClient
from attacker.optimizers import OPTIMIZERS, ProbeOptimizer
from attacker.probes import ProbeSet
from attacker.public_data import PublicImages
from shared.schemas import ProbeParams


class OptimisedProbes:
    """Fills a probe set with an optimiser's probes, one (class, k) slot at a time."""

    needs_public_data = False

    def __init__(self, params: ProbeParams):
        self.optimizer: ProbeOptimizer = OPTIMIZERS[params.name](params)

    def fill(self, probe_set: ProbeSet, client: InferenceClient, targets: list[int], public: PublicImages | None,
             console: Console) -> None:
        """Make the missing probes of `targets` against the version the client is pinned to."""
        spec, classes = probe_set.config.spec, probe_set.classes
        todo = probe_set.missing(targets)
        done = len(targets) * spec.per_class - len(todo)
        if done:
            console.print(f"resuming: {done} probes already made in {probe_set.run_dir}")
        accepted = Counter(r.target for r in probe_set.results.values() if r.accepted)
        tried = Counter(r.target for r in probe_set.results.values())
        columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[status]}"))
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("probes", total=len(targets) * spec.per_class, completed=done, status="")
            for c, k in todo:
                name = classes[c]

                def show(event: dict, name=name, c=c) -> None:
                    bar.update(task, description=f"{name} {accepted[c]}/{tried[c] + 1}",
                               status=f"best p={event['confidence']:.5f}  queries={event['queries']:,}")

                result = self.optimizer.generate(client.probabilities, probe_set.config.input_shape, c,
                                                 np.random.default_rng([spec.seed, c, k]), show)
                probe_set.add(c, k, result)
                tried[c] += 1
                accepted[c] += result.accepted
                mark = "accepted" if result.accepted else "[red]NOT accepted[/]"
                bar.console.print(f"{name} #{k + 1}: {mark}, p={result.confidence:.5f}, {result.queries:,} queries")
                bar.advance(task)
