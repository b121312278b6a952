"""Make the probe set: for each class, `per_class` probes from the chosen optimiser.

Every probe is saved as soon as it is made, so a run stopped for any reason (Ctrl-C, an
exhausted query budget, a server restart) resumes where it stopped. Probes must all come from
one model version: if the server's version changes mid-probing, probing stops and says so.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attacker.capabilities import CannotAttack, from_model_info
from attacker.client import InferenceClient
from attacker.optimizers import ProbeOptimizer
from attacker.probe_config import ProbeSetConfig
from attacker.probes import ProbeSet


def make_probes(client: InferenceClient, run_dir: Path, optimizer: ProbeOptimizer, per_class: int,
                seed: int, targets: list[int] | None = None, console: Console | None = None) -> ProbeSet:
    """Generate the missing probes of the run in `run_dir` against the version now served."""
    console = console or Console(stderr=True)
    info = client.model_info()
    caps = from_model_info(info)
    if not caps.can_probe:
        raise CannotAttack("; ".join(caps.notes))
    for note in caps.notes:
        console.print(f"[yellow]note:[/] {note}")
    client.pinned_version = info.version
    client.phase = "probing"
    config = ProbeSetConfig(version=info.version, input_shape=info.input_shape, classes=info.classes,
                            optimizer=optimizer.describe(), per_class=per_class, seed=seed)
    probe_set = ProbeSet.open(run_dir, config)
    targets = list(range(len(info.classes))) if targets is None else targets
    todo = probe_set.missing(targets)
    done = len(targets) * per_class - len(todo)
    if done:
        console.print(f"resuming: {done} probes already made in {run_dir}")
    accepted = Counter(r.target for r in probe_set.results.values() if r.accepted)
    tried = Counter(r.target for r in probe_set.results.values())
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("probes", total=len(targets) * per_class, completed=done, status="")
        for c, k in todo:
            name = info.classes[c]

            def show(event: dict, name=name, c=c) -> None:
                bar.update(task, description=f"{name} {accepted[c]}/{tried[c] + 1}",
                           status=f"best p={event['confidence']:.5f}  queries={event['queries']:,}")

            result = optimizer.generate(client.probabilities, info.input_shape, c,
                                        np.random.default_rng([seed, c, k]), show)
            probe_set.add(c, k, result)
            tried[c] += 1
            accepted[c] += result.accepted
            mark = "accepted" if result.accepted else "[red]NOT accepted[/]"
            bar.console.print(f"{name} #{k + 1}: {mark}, p={result.confidence:.5f}, {result.queries:,} queries")
            bar.advance(task)
    return probe_set
