"""The grid's written results: tables (CSV and Markdown), figures, and a `GridSummary` (JSON) with
the headline numbers. The headline statistic is the attacker's, frozen by the protocol the grid
runs under (evaluation/protocol.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pydantic import BaseModel

from evaluation.ceiling import CeilingRow, ceiling_table
from evaluation.grid import GridConfig
from evaluation.detector import (DetectorRow, detector_row, detector_table, matched_nulls, nulls, positives,
                                 undefended)
from evaluation.plots import privacy_utility, pruning, roc, score_bars, top1_vs_p
from evaluation.results import CaseResult
from evaluation.scoring import (AccuracyRow, DefenseRow, LabelRow, Rate, accuracy_table, calibration_table,
                                defense_table, scored)
from shared.atomic import atomic_write


class GridSummary(BaseModel):
    grid: str
    protocol: str | None  # the pre-registered protocol's name and digest the grid ran under
    cases: int
    scored: int
    nulls: int
    statistic: str
    top1_p_ge_0_1: Rate
    top1_p_0_003: Rate
    top1_p_ge_0_25: Rate
    ceiling_top1_p_ge_0_25: Rate  # the same cases named by the white-box reading (bias change; evaluation/white_box.py)
    auc: float | None  # single-class positives at p >= 0.1 against the nulls of their sizes, undefended
    auc_interval: tuple[float, float] | None
    plain_auc: float | None  # the same cases scored as the attack was before null models
    tpr_at_1pct_fpr: Rate | None
    tpr_at_5pct_fpr: Rate | None
    null_high_rate: Rate
    high_precision: Rate  # over positives and nulls: a `high` on a null is wrong
    refused: int
    case_seconds: float  # summed over the cases, the resumed ones' included: what the grid cost
    wall_seconds: float  # of this run
    all_runs_seconds: float | None = None  # every run of the grid in its work directory (evaluation/ledger.py)

    def line(self) -> str:
        """The command's last line (`make evaluate`); the other numbers are in summary.json."""
        return (f"top1_p_ge_0.1={value(self.top1_p_ge_0_1)} top1_p_0.003={value(self.top1_p_0_003)} "
                f"auc={'nan' if self.auc is None else f'{self.auc:.3f}'} "
                f"tpr_at_5pct_fpr={value(self.tpr_at_5pct_fpr)} null_high_rate={value(self.null_high_rate)} "
                f"wall_s={self.wall_seconds:.0f}")


def cost(s: GridSummary) -> str:
    """What the grid cost beside this run's wall time: every run of it, and the cases summed (a
    resumed run's wall time counts only what it computed)."""
    runs = "" if s.all_runs_seconds is None else \
        f"every recorded run of this grid in its work directory: {s.all_runs_seconds:.0f} s; "
    return f"{runs}cases: {s.case_seconds:.0f} s summed"


def value(rate: Rate | None) -> str:
    return f"{rate.value:.3f}" if rate is not None and rate.n else "nan"


def summarise(config: GridConfig, results: list[CaseResult], wall_seconds: float,
              protocol: str | None = None, all_runs_seconds: float | None = None) -> GridSummary:
    statistic = config.attacker.statistic
    pool = undefended(results)
    plain = [r for r in positives(pool) if r.case.method == "exact" and len(r.truth) == 1]

    def top1(keep) -> Rate:
        return Rate.of(r.hit(statistic) for r in plain if keep(r.case.proportion))

    detectable = [r for r in positives(pool) if len(r.truth) == 1 and r.case.proportion >= 0.1]
    null_pool = nulls(pool)
    matched = matched_nulls(null_pool, [r.case.proportion for r in detectable])
    detection = detector_row("all", "all", "p ≥ 0.1", detectable, matched, statistic) \
        if detectable and matched else None
    return GridSummary(
        grid=config.name, protocol=protocol, cases=len(results), scored=len(scored(results)),
        nulls=len(nulls(scored(results))), statistic=statistic,
        top1_p_ge_0_1=top1(lambda p: p >= 0.1), top1_p_0_003=top1(lambda p: p == 0.003),
        top1_p_ge_0_25=top1(lambda p: p >= 0.25),
        ceiling_top1_p_ge_0_25=Rate.of(r.white_box.bias.rank == 1 for r in plain
                                       if r.case.proportion >= 0.25 and r.white_box is not None),
        auc=detection.auc if detection else None,
        auc_interval=(detection.auc_low, detection.auc_high) if detection else None,
        plain_auc=detection.plain_auc if detection else None,
        tpr_at_1pct_fpr=detection.tpr_at_1pct_fpr if detection else None,
        tpr_at_5pct_fpr=detection.tpr_at_5pct_fpr if detection else None,
        null_high_rate=Rate.of(r.label(statistic) == "high" for r in null_pool),
        high_precision=Rate.of(r.high_right(statistic) for r in scored(results) if r.label(statistic) == "high"),
        refused=sum(not r.ranked for r in results),
        case_seconds=round(sum(r.wall_seconds for r in results), 1), wall_seconds=round(wall_seconds, 1),
        all_runs_seconds=all_runs_seconds)


def write_outputs(config: GridConfig, results: list[CaseResult], summary: GridSummary, out: Path,
                  command: str | None = None) -> list[Path]:
    """Tables, figures, the summary, and the grid itself (config.json) with the command that ran it."""
    out.mkdir(parents=True, exist_ok=True)
    rows = accuracy_table(results)
    defenses = defense_table(results, summary.statistic)
    labels = calibration_table(results, summary.statistic)
    detector = detector_table(results, summary.statistic)
    ceiling = ceiling_table(results, summary.statistic)
    paths = [
        _write(out / "accuracy.csv", _csv(rows)),
        _write(out / "detection.csv", _detector_csv(detector)),
        _write(out / "cases.csv", _cases_csv(results)),
        _write(out / "summary.json", summary.model_dump_json(indent=2)),
        _write(out / "results.md", markdown(config, summary, rows, detector, ceiling, defenses, labels, command)),
        _write(out / "config.json", config.model_dump_json(indent=2)),
    ]
    classes = next((len(r.report.scores) for r in results if r.ranked), 10)
    figures = [score_bars(results, summary.statistic, out / "score-bars.png"),
               top1_vs_p(rows, classes, out / "top1-vs-p.png"), roc(results, summary.statistic, out / "roc.png")]
    if len(defenses) > 1:
        baseline = {row.regime: row for row in defenses if not row.defended}
        figures += [pruning(defenses, baseline, out / "pruning.png"), privacy_utility(defenses, out / "privacy-utility.png")]
    return paths + [f for f in figures if f is not None]


def markdown(config: GridConfig, summary: GridSummary, rows: list[AccuracyRow], detector: list[DetectorRow],
             ceiling: list[CeilingRow], defenses: list[DefenseRow], labels: list[LabelRow],
             command: str | None = None) -> str:
    s, a = summary, config.attacker
    holds = ", ".join(a.capabilities()) or "the public API alone"
    auc = "–" if s.auc is None else f"{s.auc:.3f} [{s.auc_interval[0]:.3f}, {s.auc_interval[1]:.3f}]"
    lines = [f"# Grid `{config.name}`", "",
             *([f"`{command}` (the grid as run: config.json)", ""] if command else []),
             f"Attacker: {a.probes.method.name} probes, {a.probes.per_class} per class; holds {holds}; statistic "
             f"`{s.statistic}`, null model `{a.null}`"
             + (f"; pre-registered protocol {s.protocol}." if s.protocol else " (no pre-registered protocol)."),
             f"{s.cases} cases: {s.scored} scored ({s.nulls} of them null updates), the rest on calibration seeds "
             f"{config.calibration_seeds}.",
             f"Top-1 at p ≥ 0.1: {s.top1_p_ge_0_1.text()}; at p = 0.003: {s.top1_p_0_003.text()}. "
             f"Detection at p ≥ 0.1 against the nulls of the same size: AUC {auc}, TPR at 5 % FPR {_text(s.tpr_at_5pct_fpr)}. "
             f"`high` on nulls: {s.null_high_rate.text()}; `high` right over positives and nulls: "
             f"{s.high_precision.text()}. Wall time {s.wall_seconds:.0f} s ({cost(s)}).",
             "", "## The attack as a detector: positives against null updates (undefended, scored seeds)", "",
             "| regime | method | positives | n | nulls | AUC [95 %] | TPR at 1 % FPR | TPR at 5 % FPR | without a "
             "null model: AUC, TPR at 5 % | top-1 of the flagged | nulls named | nulls `high` | `high` right |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {d.regime} | {d.method} | {d.group} | {d.positives} | {d.nulls} | {d.auc:.3f} [{d.auc_low:.2f}, "
              f"{d.auc_high:.2f}] | {d.tpr_at_1pct_fpr.text()} | {d.tpr_at_5pct_fpr.text()} | {d.plain_auc:.3f}, "
              f"{d.plain_tpr_at_5pct_fpr.value:.2f} | {d.detected_top1.text()} | {d.null_named.text()} | "
              f"{d.null_high.text()} | {d.high_right.text()} |" for d in detector]
    if ceiling:
        lines += ["", "## The white-box ceiling: what the update's weights reveal, beside what the outputs gave", "",
                  "The operator's reading of the same updates (the last Linear layer of θ_u − θ, evaluation/white_box.py): "
                  "top-1, and detection AUC against the same nulls.", "",
                  "| regime | method | positives | n | attacker top-1 | bias change top-1 | weight-row sums top-1 | "
                  "AUC: attacker, bias, rows |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {c.regime} | {c.method} | {c.group} | {c.positives} | {c.attack_top1.text()} | {c.bias_top1.text()} | "
                  f"{c.rows_top1.text()} | {c.attack_auc:.3f}, {c.bias_auc:.3f}, {c.rows_auc:.3f} |" for c in ceiling]
    lines += ["", "## Top-N accuracy (95 % Wilson interval) and mean rank of the truth", "",
              "| regime | removed | method | defense | p | statistic | top-N accuracy | mean rank |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.regime} | {r.removed} | {r.method} | {r.defense} | {r.proportion:g} | {r.statistic} | "
              f"{r.accuracy.text()} | {r.mean_rank:.2f} |" for r in rows]
    lines += ["", f"## Confidence labels (`{s.statistic}`): how often each was right (scored positives and nulls; "
                  "`none` is right on a null)", "", "| label | right |", "|---|---|"]
    lines += [f"| {row.label} | {row.right.text()} |" for row in labels]
    if len(defenses) > 1:
        lines += ["", f"## Defenses (`{s.statistic}`)", "",
                  "| defense | regime | cases | attack top-N | defense success | test accuracy served | "
                  "accuracy cost | no ranking |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {d.defense} | {d.regime} | {d.cases} | {d.attack_accuracy.text()} | {d.success.text()} | "
                  f"{d.accuracy_served:.4f} | {d.accuracy_cost:+.4f} | {d.refused} |" for d in defenses]
    return "\n".join(lines) + "\n"


def _text(rate: Rate | None) -> str:
    return rate.text() if rate is not None else "–"


def _csv(rows: list[AccuracyRow]) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer)
    w.writerow(["regime", "removed", "method", "defense", "proportion", "statistic", "hits", "n", "accuracy",
                "wilson_low", "wilson_high", "mean_rank"])
    for r in rows:
        w.writerow([r.regime, r.removed, r.method, r.defense, r.proportion, r.statistic, r.accuracy.hits,
                    r.accuracy.n, round(r.accuracy.value, 4), r.accuracy.low, r.accuracy.high, r.mean_rank])
    return buffer.getvalue()


def _detector_csv(rows: list[DetectorRow]) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer)
    rates = ("tpr_at_1pct_fpr", "tpr_at_5pct_fpr", "plain_tpr_at_5pct_fpr", "detected_top1", "null_named",
             "null_high", "high_right")
    w.writerow(["regime", "method", "group", "positives", "nulls", "auc", "auc_low", "auc_high", "plain_auc",
                *(f"{name}{part}" for name in rates for part in ("", "_n", "_low", "_high"))])
    for r in rows:
        values = [(getattr(r, n).value, getattr(r, n).n, getattr(r, n).low, getattr(r, n).high) for n in rates]
        w.writerow([r.regime, r.method, r.group, r.positives, r.nulls, r.auc, r.auc_low, r.auc_high, r.plain_auc,
                    *(round(v, 4) if isinstance(v, float) else v for row in values for v in row)])
    return buffer.getvalue()


def _cases_csv(results: list[CaseResult]) -> str:
    buffer = io.StringIO()
    w = csv.writer(buffer)
    w.writerow(["case_id", "calibration", "regime", "seed", "removed", "null", "proportion", "method", "defense",
                "statistic", "ranking", "rank_of_truth", "hit", "confidence", "detection_score", "p_value", "queries",
                "accuracy_original", "accuracy_served", "wall_seconds"])
    for r in results:
        c = r.case
        outcome = r.outcome()
        w.writerow([r.case_id, c.calibration, c.original.regime, c.original.seed, "+".join(r.truth),
                    f"{c.null} #{c.draw}" if c.null else "", c.proportion, c.method, c.defense.name,
                    r.report.statistic if r.ranked else c.statistic, " ".join(r.report.ranking) if r.ranked else "",
                    outcome.rank if outcome and outcome.rank else "", r.hit(), r.label() or "",
                    outcome.detection.score if outcome else "",
                    "" if outcome is None or outcome.detection.p_value is None else outcome.detection.p_value,
                    r.queries, r.accuracy_original, r.accuracy_served, r.wall_seconds])
    return buffer.getvalue()


def _write(path: Path, text: str) -> Path:
    atomic_write(path, text.encode())
    return path
