"""The grid's written results: tables (CSV and Markdown), figures, and a `GridSummary` (JSON) with
the headline numbers. The headline statistic is the one chosen on the calibration seeds."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pydantic import BaseModel

from evaluation.grid import GridConfig
from evaluation.plots import privacy_utility, pruning, score_bars, top1_vs_p
from evaluation.results import CaseResult
from evaluation.scoring import (AccuracyRow, DefenseRow, HighRule, LabelRow, Rate, accuracy_table, best_statistic,
                                calibration_table, defense_table, fit_high_rule, scored)
from shared.atomic import atomic_write


class GridSummary(BaseModel):
    grid: str
    cases: int
    scored: int
    statistic: str
    statistic_chosen_by: str
    top1_p_ge_0_1: Rate
    top1_p_0_003: Rate
    top1_p_ge_0_25: Rate
    high_precision: Rate
    fitted_high_rule: HighRule | None
    refused: int
    case_seconds: float
    wall_seconds: float

    def line(self) -> str:
        """The command's last line (`make evaluate`); the other numbers are in summary.json."""
        return (f"top1_p_ge_0.1={value(self.top1_p_ge_0_1)} top1_p_0.003={value(self.top1_p_0_003)} "
                f"wall_s={self.wall_seconds:.0f}")


def value(rate: Rate) -> str:
    return f"{rate.value:.3f}" if rate.n else "nan"


def summarise(config: GridConfig, results: list[CaseResult], wall_seconds: float) -> GridSummary:
    statistic, how = best_statistic(results)
    plain = [r for r in scored(results) if r.case.defense.name == "none" and r.case.method == "exact"
             and len(r.truth) == 1]

    def top1(keep) -> Rate:
        return Rate.of(r.hit(statistic) for r in plain if keep(r.case.proportion))

    return GridSummary(
        grid=config.name, cases=len(results), scored=len(scored(results)), statistic=statistic,
        statistic_chosen_by=how, top1_p_ge_0_1=top1(lambda p: p >= 0.1), top1_p_0_003=top1(lambda p: p == 0.003),
        top1_p_ge_0_25=top1(lambda p: p >= 0.25),
        high_precision=Rate.of(r.hit(statistic) for r in scored(results) if r.label(statistic) == "high"),
        fitted_high_rule=fit_high_rule(results, statistic), refused=sum(not r.ranked for r in results),
        case_seconds=round(sum(r.wall_seconds for r in results), 1), wall_seconds=round(wall_seconds, 1))


def write_outputs(config: GridConfig, results: list[CaseResult], summary: GridSummary, out: Path,
                  command: str | None = None) -> list[Path]:
    """Tables, figures, the summary, and the grid itself (config.json) with the command that ran it."""
    out.mkdir(parents=True, exist_ok=True)
    rows = accuracy_table(results)
    defenses = defense_table(results, summary.statistic)
    labels = calibration_table(results, summary.statistic)
    paths = [
        _write(out / "accuracy.csv", _csv(rows)),
        _write(out / "cases.csv", _cases_csv(results)),
        _write(out / "summary.json", summary.model_dump_json(indent=2)),
        _write(out / "results.md", markdown(config, summary, rows, defenses, labels, command)),
        _write(out / "config.json", config.model_dump_json(indent=2)),
    ]
    classes = next((len(r.report.scores) for r in results if r.ranked), 10)
    figures = [score_bars(results, summary.statistic, out / "score-bars.png"),
               top1_vs_p(rows, classes, out / "top1-vs-p.png")]
    if len(defenses) > 1:
        baseline = {row.regime: row for row in defenses if not row.defended}
        figures += [pruning(defenses, baseline, out / "pruning.png"), privacy_utility(defenses, out / "privacy-utility.png")]
    return paths + [f for f in figures if f is not None]


def markdown(config: GridConfig, summary: GridSummary, rows: list[AccuracyRow], defenses: list[DefenseRow],
             labels: list[LabelRow], command: str | None = None) -> str:
    s = summary
    attacker = ", ".join(config.attacker.capabilities()) or "the public API alone"
    lines = [f"# Grid `{config.name}`", "",
             *([f"`{command}` (the grid as run: config.json)", ""] if command else []),
             f"Attacker: {config.attacker.probes.method.name} probes, {config.attacker.probes.per_class} per class; "
             f"holds {attacker}.",
             f"{s.cases} cases ({s.scored} scored; the rest on held-apart calibration seeds "
             f"{config.calibration_seeds}); the headline statistic is `{s.statistic}` ({s.statistic_chosen_by}).",
             f"Top-1 at p ≥ 0.1: {s.top1_p_ge_0_1.text()}; at p = 0.003: {s.top1_p_0_003.text()}; "
             f"`high` rankings right: {s.high_precision.text()}. Wall time {s.wall_seconds:.0f} s.", "",
             "## Top-N accuracy (95 % Wilson interval) and mean rank of the truth", "",
             "| regime | removed | method | defense | p | statistic | top-N accuracy | mean rank |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.regime} | {r.removed} | {r.method} | {r.defense} | {r.proportion:g} | {r.statistic} | "
              f"{r.accuracy.text()} | {r.mean_rank:.2f} |" for r in rows]
    lines += ["", f"## Confidence labels (`{s.statistic}`): how often each label was right (scored cases)", "",
              "| label | right |", "|---|---|"]
    lines += [f"| {row.label} | {row.right.text()} |" for row in labels]
    if s.fitted_high_rule:
        f = s.fitted_high_rule
        lines += ["", f"Thresholds for `high` fitted on the calibration cases: lead ≥ {f.lead:g} and separation ≥ "
                      f"{f.separation:g} (right {f.calibration.text()} there)."]
    if len(defenses) > 1:
        lines += ["", f"## Defenses (`{s.statistic}`)", "",
                  "| defense | regime | cases | attack top-N | defense success | test accuracy served | "
                  "accuracy cost | no ranking |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {d.defense} | {d.regime} | {d.cases} | {d.attack_accuracy.text()} | {d.success.text()} | "
                  f"{d.accuracy_served:.4f} | {d.accuracy_cost:+.4f} | {d.refused} |" for d in defenses]
    return "\n".join(lines) + "\n"


def _csv(rows: list[AccuracyRow]) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer)
    w.writerow(["regime", "removed", "method", "defense", "proportion", "statistic", "hits", "n", "accuracy",
                "wilson_low", "wilson_high", "mean_rank"])
    for r in rows:
        w.writerow([r.regime, r.removed, r.method, r.defense, r.proportion, r.statistic, r.accuracy.hits,
                    r.accuracy.n, round(r.accuracy.value, 4), r.accuracy.low, r.accuracy.high, r.mean_rank])
    return buffer.getvalue()


def _cases_csv(results: list[CaseResult]) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer)
    w.writerow(["case_id", "calibration", "regime", "seed", "removed", "proportion", "method", "defense", "statistic",
                "ranking", "rank_of_truth", "hit", "confidence", "queries", "accuracy_original", "accuracy_served",
                "wall_seconds"])
    for r in results:
        c = r.case
        outcome = r.outcomes.get(c.statistic)
        w.writerow([r.case_id, c.calibration, c.original.regime, c.original.seed, "+".join(r.truth), c.proportion,
                    c.method, c.defense.name, c.statistic, " ".join(r.report.ranking) if r.ranked else "",
                    outcome.rank if outcome else "", r.hit(), r.label() or "", r.queries, r.accuracy_original,
                    r.accuracy_served, r.wall_seconds])
    return buffer.getvalue()


def _write(path: Path, text: str) -> Path:
    atomic_write(path, text.encode())
    return path
