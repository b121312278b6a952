"""The attack's outputs: report.json (an `AttackReport`), a bar chart of the scores per class
(report-chart.png), a Markdown summary (report.md), and a terminal table (on stderr)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from attacker.analysis import score_values  # noqa: E402
from shared.atomic import atomic_write  # noqa: E402
from shared.schemas import AttackReport  # noqa: E402

LABELS = {"beta": "change in confidence on own probes (β)", "logodds": "change in log-odds on own probes",
          "logit": "change in centred log-probability, all probes", "zlogit": "logit change / standard error"}


def write_report(run_dir: Path, report: AttackReport) -> dict[str, Path]:
    run_dir = Path(run_dir)
    paths = {"json": run_dir / "report.json", "markdown": run_dir / "report.md"}
    atomic_write(paths["json"], (report.model_dump_json(indent=2) + "\n").encode())
    atomic_write(paths["markdown"], markdown(report).encode())
    if report.rankable:
        paths["chart"] = run_dir / "report-chart.png"
        plot_scores(report, paths["chart"])
    return paths


def plot_scores(report: AttackReport, path: Path) -> None:
    """One bar per class, as in the report's figures; the inferred classes in red."""
    classes = list(report.scores)
    values = score_values(report.scores)
    inferred = set(report.inferred)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    ax.bar(range(len(classes)), np.nan_to_num(values), color=["#c0392b" if c in inferred else "#7f8c8d"
                                                              for c in classes])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_ylabel(LABELS.get(report.statistic, report.statistic), fontsize=9)
    v = report.versions
    ax.set_title(f"{v.before} → {v.after}: inferred {', '.join(report.inferred)} "
                 f"(confidence {report.confidence.label})", fontsize=10)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def markdown(report: AttackReport) -> str:
    v, q = report.versions, report.queries
    lines = [f"# Label inference: {v.before} → {v.after}", ""]
    if not report.rankable:
        lines += [f"**No ranking.** {report.reason}.", ""]
    else:
        c, count = report.confidence, report.removed_count
        lines += [f"Inferred removed: **{', '.join(report.inferred)}** (confidence {c.label}: lead "
                  f"{c.lead:.2f}, separation {c.top_separation:.2f} robust SD; statistic "
                  f"`{report.statistic}`; {count.used} class(es) named, "
                  f"{count.estimated} estimated to stand out).", "",
                  "| rank | class | score | separation | probes |", "|---|---|---|---|---|"]
        for i, name in enumerate(report.ranking, 1):
            lines.append(f"| {i} | {name} | {_fmt(report.scores[name])} | {_fmt(report.separation[name], '.2f')} "
                         f"| {report.probes_per_class[name]} |")
        lines.append("")
    lines += [f"Queries: {q.total:,} ({q.probing:,} probing, {q.snapshot_before:,} + "
              f"{q.snapshot_after:,} snapshots). Probes: `{report.probe_method.model_dump_json()}`."]
    if report.wall_seconds is not None:
        lines.append(f"Wall time: {report.wall_seconds:.0f} s.")
    lines += [f"- note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def print_ranking(report: AttackReport, console: Console) -> None:
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    if not report.rankable:
        console.print(f"[bold red]no ranking:[/] {report.reason}")
        return
    table = Table(title=f"classes ranked by {report.statistic} (most negative first)")
    for column in ("rank", "class", "score", "separation", "probes"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(report.ranking, 1):
        style = "bold red" if name in report.inferred else None
        table.add_row(str(i), name, _fmt(report.scores[name]), _fmt(report.separation[name], ".2f"),
                      str(report.probes_per_class[name]), style=style)
    console.print(table)
    c = report.confidence
    console.print(f"inferred: {', '.join(report.inferred)}  (confidence {c.label}, lead {c.lead:.2f}); "
                  f"queries {report.queries.total:,}")


def _fmt(value, spec: str = "+.3e") -> str:
    return "n/a" if value is None else format(value, spec)
