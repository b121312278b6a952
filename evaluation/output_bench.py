"""`python -m evaluation.output_bench CONFIG`: development only. How well statistics of the outputs
on public images name the removed class, beside what the update's weights reveal (the white-box
ceiling), on a grid's calibration cases. The bench for choosing an API-only attack that comes
close to the ceiling: a statistic is tried here, frozen in a protocol, and only then scored on
fresh seeds by `python -m evaluation`.

Invariants:
- Calibration seeds only: the cases of a grid's scored seeds are never read.
- The cases must have been run (`python -m evaluation CONFIG`): the versions come from the grid's
  work directory; the ceiling is read from them as evaluation/white_box.py reads it.
- The answers are those of a server without defenses (each version evaluated in process on the
  attacker's public images, D0): every statistic here needs the public-data capability and spends
  `images` queries per version. Cases with a server- or developer-side defense are left out.
- stdout: one line, each statistic's top-1 at p >= 0.25 beside the ceiling's; the table goes to
  stderr.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table

from attacker import STATISTICS, load_public_images
from attacker.shadow import probabilities  # what a server without defenses answers, in float64
from devtools.processes import ROOT
from evaluation.developers import Developers
from evaluation.grid import Case, GridConfig, expand
from evaluation.protocol import load_grid
from evaluation.results import CaseResult, ResultStore
from evaluation.scoring import Rate
from evaluation.truth_rank import rank_of_truth
from evaluation.white_box import white_box
from shared.data import load_dataset

Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (before, after) answers -> per-class score


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, np.finfo(np.float64).tiny))


def centred_logit(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The attacker's `logit`: the mean change of each class's centred log-probability."""
    return STATISTICS["logit"](before, after, np.zeros(len(before), int), before.shape[1])


def log_mean_probability(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The change of the log of each class's mean probability: the prior the served model implies."""
    return _log(after.mean(0)) - _log(before.mean(0))


def weighted_log_probability(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The change of log p_c, weighted by p_c before: the images where c was plausible count most."""
    return (before * (_log(after) - _log(before))).sum(0) / before.sum(0)


def answered_share(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The change of the share of images answered c: all a labels-only server would show."""
    classes = before.shape[1]
    return (np.bincount(after.argmax(1), minlength=classes) - np.bincount(before.argmax(1), minlength=classes)) \
        / len(before)


def own_logodds(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The attacker's `logodds` on the images the model answered c before (natural probes, none
    selected away)."""
    return STATISTICS["logodds"](before, after, before.argmax(1), before.shape[1])


OUTPUT_STATISTICS: dict[str, Statistic] = {
    "centred_logit": centred_logit, "log_mean_probability": log_mean_probability,
    "weighted_log_probability": weighted_log_probability, "answered_share": answered_share,
    "own_logodds": own_logodds}
CEILING = ("ceiling_bias", "ceiling_rows")  # the operator's readings of the same versions' weights


class BenchRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statistic: str
    group: str  # "p = 0.25", ..., or "p ≥ 0.25"
    top1: Rate
    mean_rank: float


class OutputBench(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grid: str
    images: int
    cases: int
    rows: list[BenchRow]

    def top1(self, statistic: str, group: str = "p ≥ 0.25") -> Rate:
        return next(row.top1 for row in self.rows if row.statistic == statistic and row.group == group)

    def line(self) -> str:
        values = " ".join(f"{name}={self.top1(name).value:.3f}" for name in [*OUTPUT_STATISTICS, *CEILING])
        return f"grid={self.grid} images={self.images} cases={self.cases} top1_p_ge_0.25: {values}"


def bench_cases(config: GridConfig, store: ResultStore) -> list[CaseResult]:
    """The grid's undefended calibration positives, run; an error naming what is missing."""
    cases = [c for c in expand(config, list(load_dataset(config.model.dataset).classes))
             if c.calibration and c.null is None and not c.defense.active]
    if not cases:
        raise ValueError(f"grid {config.name} has no undefended calibration cases: the bench reads no scored seed")
    results = [store.get(c) for c in cases]
    missing = [c for c, r in zip(cases, results) if r is None]
    if missing:
        raise ValueError(f"{len(missing)} of the grid's {len(cases)} calibration cases have not been run (e.g. "
                         f"{missing[0].label()}): run `python -m evaluation` on the grid first")
    return results


def run_bench(config: GridConfig, workdir: Path, images: int, seed: int = 0, threads: int = 1) -> OutputBench:
    store, developers = ResultStore(workdir), Developers(workdir, threads)
    results = bench_cases(config, store)
    ranks: dict[tuple[str, float], list[int]] = defaultdict(list)
    before: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # original version -> (its public images, answers)
    for r in results:
        case: Case = r.case
        original, unlearned = developers(case.original).finetune(), developers.unlearned(case)
        if original.version not in before:
            public = load_public_images(developers.public_data(case.original), limit=images, seed=seed)
            before[original.version] = public.images, probabilities(original.load(), public.images)
        x, p0 = before[original.version]
        p1 = probabilities(unlearned.load(), x)
        classes = list(original.meta.classes)
        for name, statistic in OUTPUT_STATISTICS.items():
            ranks[name, case.proportion].append(rank_of_truth(statistic(p0, p1), classes, case.classes))
        ceiling = white_box(original, unlearned, list(case.classes))
        if ceiling is not None:
            ranks["ceiling_bias", case.proportion].append(ceiling.bias.rank)
            ranks["ceiling_rows", case.proportion].append(ceiling.rows.rank)
    rows = []
    for name in [*OUTPUT_STATISTICS, *CEILING]:
        groups = {f"p = {p:g}": ranks[name, p] for p in sorted({p for _, p in ranks})}
        groups["p ≥ 0.25"] = [k for p in sorted({p for _, p in ranks}) if p >= 0.25 for k in ranks[name, p]]
        rows += [BenchRow(statistic=name, group=group, top1=Rate.of(k == 1 for k in values),
                          mean_rank=round(float(np.mean(values)), 2) if values else float("nan"))
                 for group, values in groups.items()]
    return OutputBench(grid=config.name, images=images, cases=len(results), rows=rows)


def show(bench: OutputBench, console: Console) -> None:
    groups = list(dict.fromkeys(row.group for row in bench.rows))
    table = Table(title=f"{bench.grid}: top-1/mean rank of the truth, {bench.images} public images per version")
    table.add_column("statistic", no_wrap=True)
    for group in groups:
        table.add_column(group)
    for name in dict.fromkeys(row.statistic for row in bench.rows):
        cells = {row.group: f"{row.top1.value:.2f}/{row.mean_rank:.1f}" for row in bench.rows if row.statistic == name}
        table.add_row(name, *(cells.get(group, "–") for group in groups))
    console.print(table)


def main(argv: list[str] | None = None) -> OutputBench:
    parser = argparse.ArgumentParser(prog="python -m evaluation.output_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="a grid with calibration seeds, already run (e.g. "
                                                  "evaluation/configs/long-calibration.toml)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "evaluation", help="the grid's work directory")
    parser.add_argument("--images", type=int, default=5000, help="public images per version (queries per version)")
    parser.add_argument("--seed", type=int, default=0, help="which public images")
    args = parser.parse_args(argv)
    try:
        bench = run_bench(load_grid(args.config), args.workdir, args.images, args.seed)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    show(bench, Console(stderr=True))
    print(bench.line(), flush=True)
    return bench


if __name__ == "__main__":
    main()
