"""`python -m evaluation.calibrate GRID.toml ... --name NAME`: choose the attacker's statistic and fit
its labelling rule on calibration seeds, and freeze them as a protocol (pre-registration).

Only the calibration seeds of the grids given enter, positives and null updates alike. The grids
are variants of one calibration: the same probes and seeds, their attackers differing in the null
model (`null`) and how an update's scores meet it (`null_scores`). Then:

1. the variant and the statistic: the pair whose detection separates single-class positives at
   p ≥ 0.1 from the null updates of the same size (and the retrains) best (AUC), ties broken by
   top-1 accuracy. A variant with a null model is preferred: its p-values say how often a null
   update looks as extreme, which a separation cannot. One without wins only if the lower end of
   its AUC's 95 % interval lies above the best null-model variant's AUC;
2. the rule (attacker/labels.py), fitted to the goals with a margin, on that statistic:
   - with a null model (p-values): `high_p` a factor `MARGIN` below the smallest p-value any
     calibration null reached, and no looser than where `high` stays right on 98 % of the
     positives; `medium_p` and `name_p` where at most 5 % and 10 % of the calibration nulls
     would be labelled so (never looser than nominal 0.01 and 0.05);
   - without one (separations): `high_separation` a factor `SEPARATION_MARGIN` above the largest
     any null reached, kept only if `high` is then right on 98 % of the positives and covers at
     least `MIN_SUPPORT` of them; otherwise no `high` without a null model.
Prints the `Protocol` as JSON; `--write` saves it to evaluation/protocols/NAME.json, the file a
scored grid names. Seeds the protocol excludes from scoring: the calibration seeds used here and
every seed given with --exclude (those development runs used).
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from attacker import LabelRule
from devtools.processes import ROOT
from evaluation.detector import auc_interval, labelled_scores, matched_nulls, nulls, positives
from evaluation.grid import GridConfig, expand
from evaluation.protocol import PROTOCOLS, Protocol, load_grid
from evaluation.results import CaseResult, ResultStore
from shared.atomic import atomic_write
from shared.data import load_dataset

MARGIN = 3.0  # p-values: `high` a factor 3 below the smallest a calibration null reached
SEPARATION_MARGIN = 1.5  # separations: `high` 1.5 times the largest a calibration null reached
MIN_SUPPORT = 10
PRECISION = 0.98


def calibration_cases(config: GridConfig, store: ResultStore, rule: LabelRule) -> list[CaseResult]:
    """The finished cases of the grid's calibration seeds, scored under `rule`."""
    cases = [c for c in expand(config, list(load_dataset(config.model.dataset).classes)) if c.calibration]
    cases = [c.model_copy(update={"attacker": c.attacker.model_copy(update={"rule": rule})}) for c in cases]
    results = [store.get(c) for c in cases]
    return [r for r in results if r is not None and not r.case.defense.active]


class Choice(NamedTuple):
    statistic: str
    auc: float
    auc_low: float
    top1: float
    aucs: dict[str, float]  # every statistic's


def choose_statistic(results: list[CaseResult]) -> Choice:
    """The statistic whose detection best separates p ≥ 0.1 positives from the matched nulls."""
    pos, neg = detectable(results)
    names = sorted({name for r in pos + neg for name in r.outcomes})
    if not pos or not neg:
        raise SystemExit("error: the calibration needs positives at p >= 0.1 and null updates of calibration seeds")
    aucs = {name: auc_interval(*labelled_scores(pos, neg, name)) for name in names}
    top1 = {name: float(np.mean([r.hit(name) for r in pos])) for name in names}
    best = max(names, key=lambda n: (round(aucs[n][0], 3), top1[n]))
    return Choice(best, aucs[best][0], aucs[best][1], top1[best], {n: round(a[0], 4) for n, a in aucs.items()})


def choose_variant(chosen: dict[str, Choice], has_null: dict[str, bool]) -> str:
    """The best variant by AUC (then top-1), one with a null model unless one without is clearly better."""
    def best_of(names: list[str]) -> str | None:
        return max(names, key=lambda n: (round(chosen[n].auc, 3), chosen[n].top1)) if names else None

    with_null = best_of([n for n in chosen if has_null[n]])
    without = best_of([n for n in chosen if not has_null[n]])
    if with_null is None or (without is not None and chosen[without].auc_low > chosen[with_null].auc):
        return without
    return with_null


def detectable(results: list[CaseResult]) -> tuple[list[CaseResult], list[CaseResult]]:
    """Single-class positives at p ≥ 0.1, and the nulls they are told apart from (matched_nulls)."""
    pos = [r for r in positives(results) if len(r.truth) == 1 and r.case.proportion >= 0.1]
    return pos, matched_nulls(nulls(results), [r.case.proportion for r in pos])


def fit_rule(results: list[CaseResult], statistic: str) -> LabelRule:
    pos = [r for r in positives(results) if len(r.truth) == 1]
    neg = nulls(results)  # every null: a `high` must be rare on all of them, whatever their size
    detections = [r.outcome(statistic).detection for r in pos + neg if r.outcome(statistic)]
    if detections and detections[0].p_value is not None:
        return fit_p_rule(pos, neg, statistic)
    return fit_separation_rule(pos, neg, statistic)


def _p(r: CaseResult, statistic: str) -> float:
    outcome = r.outcome(statistic)
    return 1.0 if outcome is None else outcome.detection.p_value


def fit_p_rule(pos: list[CaseResult], neg: list[CaseResult], statistic: str) -> LabelRule:
    null_p = np.sort([_p(r, statistic) for r in neg])
    ceiling = min(LabelRule().high_p, float(null_p[0]) / MARGIN)
    # the loosest threshold up to the ceiling at which `high` stays right on PRECISION of the positives
    high_p = ceiling
    for candidate in [ceiling, *sorted({_p(r, statistic) for r in pos if _p(r, statistic) < ceiling}, reverse=True)]:
        flagged = [r for r in pos if _p(r, statistic) <= candidate]
        if not flagged or np.mean([r.hit(statistic) for r in flagged]) >= PRECISION:
            high_p = candidate
            break
    medium_p = min(LabelRule().medium_p, float(np.quantile(null_p, 0.05)))
    name_p = min(LabelRule().name_p, float(np.quantile(null_p, 0.10)))
    return LabelRule(high_p=float(f"{high_p:.3g}"), medium_p=float(f"{max(medium_p, high_p):.3g}"),
                     name_p=float(f"{max(name_p, medium_p, high_p):.3g}"))


def fit_separation_rule(pos: list[CaseResult], neg: list[CaseResult], statistic: str) -> LabelRule:
    def top(r: CaseResult) -> float:
        outcome = r.outcome(statistic)
        return -np.inf if outcome is None else outcome.confidence.top_separation

    worst_null = max(top(r) for r in neg)
    threshold = SEPARATION_MARGIN * max(worst_null, LabelRule().medium_separation)
    flagged = [r for r in pos if top(r) >= threshold]
    keep = len(flagged) >= MIN_SUPPORT and np.mean([r.hit(statistic) for r in flagged]) >= PRECISION
    name = max(LabelRule().name_separation, float(np.quantile([top(r) for r in neg], 0.90)))
    return LabelRule(high_separation=round(threshold, 2) if keep else None,
                     medium_separation=round(max(LabelRule().medium_separation, name), 2),
                     name_separation=round(name, 2))


def main(argv: list[str] | None = None) -> Protocol:
    parser = argparse.ArgumentParser(prog="python -m evaluation.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", type=Path, nargs="+", help="calibration grids (their calibration seeds are read)")
    parser.add_argument("--name", required=True, help="the protocol's name (evaluation/protocols/NAME.json)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "evaluation")
    parser.add_argument("--exclude", type=int, nargs="*", default=[],
                        help="more seeds never to score: those development runs used")
    parser.add_argument("--write", action="store_true", help="save the protocol (refuses to overwrite one)")
    args = parser.parse_args(argv)
    store = ResultStore(args.workdir)
    configs = [load_grid(path) for path in args.configs]
    if len({(c.attacker.prober, tuple(c.calibration_seeds)) for c in configs}) != 1:
        raise SystemExit("error: the calibration grids must be variants of one: the same probes and seeds")
    variants = {c.name: (c, calibration_cases(c, store, LabelRule())) for c in configs}
    chosen = {name: choose_statistic(results) for name, (_, results) in variants.items()}
    best = choose_variant(chosen, {name: c.attacker.null != "none" for name, (c, _) in variants.items()})
    config, results = variants[best]
    statistic = chosen[best].statistic
    rule = fit_rule(results, statistic)
    seeds = sorted({s for c in configs for s in c.calibration_seeds})
    protocol = Protocol(
        name=args.name, frozen_on=datetime.date.today().isoformat(),
        attacker=config.attacker.model_copy(update={"statistic": statistic, "rule": rule}),
        chosen_on=[f"{c.name} (null {c.attacker.null}, scores {c.attacker.null_scores}): calibration seeds "
                   f"{c.calibration_seeds}; "
                   f"{len(positives(r))} positives and {len(nulls(r))} null updates, undefended; detection AUC at "
                   f"p >= 0.1 against the nulls of the same size, by statistic: {chosen[c.name].aucs} (the best's "
                   f"95 % interval from {chosen[c.name].auc_low:.3f})"
                   for c, r in variants.values()] + [f"chosen: {best}, statistic {statistic}"],
        excluded_seeds=sorted(set(seeds) | set(args.exclude)),
        goals=f"high on nulls <= 1 % and high right >= 95 %: fitted with a margin on the calibration nulls (p-values "
              f"a factor {MARGIN:g} below the smallest, separations {SEPARATION_MARGIN:g} times the largest) and "
              f"{PRECISION:.0%} precision on the calibration positives")
    print(protocol.model_dump_json(indent=2))
    if args.write:
        path = PROTOCOLS / f"{args.name}.json"
        if path.exists():
            raise SystemExit(f"error: {path} exists: a frozen protocol is never overwritten; choose a new name")
        atomic_write(path, (protocol.model_dump_json(indent=2) + "\n").encode())
    return protocol


if __name__ == "__main__":
    main()
