"""`python -m evaluation.calibrate CONFIG.toml ...`: choose the attacker's `high` thresholds on the
held-apart calibration cases of several grids at once, and check them on the scored cases.

The attacker's labelling rule (attacker/inference.py: `high` when the top class's lead over the
runner-up and its separation from the bulk both reach thresholds) is one rule for every regime,
so its thresholds are fitted on the calibration seeds of all the grids given, pooled, for one
statistic (--statistic). A case two grids share is counted once. Reads finished cases only (run the grids first); prints a
`CalibrationResult` as JSON on stdout and writes it as Markdown with --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import BaseModel

from attacker import high_rule
from devtools.processes import ROOT
from evaluation.grid import GridConfig, expand, load_grid
from evaluation.results import CaseResult, ResultStore
from evaluation.scoring import HighRule, Rate, fit_high_rule, held_apart, scored
from shared.atomic import atomic_write
from shared.data import load_dataset


class RuleCheck(BaseModel):
    lead: float
    separation: float
    calibration: Rate  # on the cases it may have been chosen on
    scored: Rate  # on the cases it was not


class CalibrationResult(BaseModel):
    grids: list[str]
    statistic: str
    calibration_cases: int
    scored_cases: int
    current: RuleCheck
    fitted: HighRule | None
    fitted_check: RuleCheck | None


def finished(config: GridConfig, store: ResultStore) -> list[CaseResult]:
    results = [store.get(case) for case in expand(config, list(load_dataset(config.model.dataset).classes))]
    return [r for r in results if r is not None]


def check(results: list[CaseResult], statistic: str, lead: float, separation: float) -> RuleCheck:
    def high(r: CaseResult) -> bool:
        c = r.outcomes[statistic].confidence
        return c.lead >= lead and c.top_separation >= separation

    usable = [r for r in results if statistic in r.outcomes]
    return RuleCheck(lead=lead, separation=separation,
                     calibration=Rate.of(r.hit(statistic) for r in held_apart(usable) if high(r)),
                     scored=Rate.of(r.hit(statistic) for r in scored(usable) if high(r)))


def main(argv: list[str] | None = None) -> CalibrationResult:
    parser = argparse.ArgumentParser(prog="python -m evaluation.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", type=Path, nargs="+")
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "evaluation")
    parser.add_argument("--statistic", default="logodds", help="the statistic whose labels are calibrated")
    parser.add_argument("--current", type=float, nargs=2, metavar=("LEAD", "SEPARATION"),
                        help="thresholds to check (default: the attacker's own rule)")
    parser.add_argument("--out", type=Path, help="also write the result as Markdown here")
    args = parser.parse_args(argv)
    store = ResultStore(args.workdir)
    configs = [load_grid(path) for path in args.configs]
    results = list({r.case_id: r for config in configs for r in finished(config, store)}.values())
    current = args.current or high_rule(args.statistic)
    fitted = fit_high_rule(results, args.statistic)
    result = CalibrationResult(
        grids=[c.name for c in configs], statistic=args.statistic, calibration_cases=len(held_apart(results)),
        scored_cases=len(scored(results)), current=check(results, args.statistic, *current), fitted=fitted,
        fitted_check=check(results, args.statistic, fitted.lead, fitted.separation) if fitted else None)
    if args.out:
        atomic_write(args.out, markdown(result).encode())
    print(result.model_dump_json(indent=2))
    return result


def markdown(r: CalibrationResult) -> str:
    lines = [f"# Calibration of `high` ({r.statistic}; grids {', '.join(r.grids)})", "",
             f"{r.calibration_cases} calibration cases (held-apart seeds), {r.scored_cases} scored cases.", "",
             "| rule | lead ≥ | separation ≥ | right on calibration cases | right on scored cases |",
             "|---|---|---|---|---|",
             f"| current | {r.current.lead:g} | {r.current.separation:g} | {r.current.calibration.text()} | "
             f"{r.current.scored.text()} |"]
    if r.fitted_check:
        f = r.fitted_check
        lines.append(f"| fitted | {f.lead:g} | {f.separation:g} | {f.calibration.text()} | {f.scored.text()} |")
    else:
        lines.append("| fitted | – | – | no thresholds reach the goal on the calibration cases | – |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
