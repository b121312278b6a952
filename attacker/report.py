"""The attack's outputs: a JSON report, a bar chart of beta per class, and a terminal table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from shared.atomic import write_json  # noqa: E402


def build_report(*, classes: list[str], beta: np.ndarray, ranking: list[int], probes_per_class: list[int],
                 versions: dict[str, str], queries: dict[str, int], statistic: str, extra: dict | None = None) -> dict:
    return {
        "versions": versions,
        "statistic": statistic,
        "ranking": [classes[c] for c in ranking],
        "beta": {classes[c]: (None if np.isnan(beta[c]) else float(beta[c])) for c in range(len(classes))},
        "probes_per_class": dict(zip(classes, probes_per_class)),
        "queries": {**queries, "total": int(sum(queries.values()))},
        **(extra or {}),
    }


def write_report(run_dir: Path, report: dict, name: str = "report") -> tuple[Path, Path]:
    json_path = Path(run_dir) / f"{name}.json"
    png_path = Path(run_dir) / f"{name}-beta.png"
    write_json(json_path, report)
    plot_beta(report, png_path)
    return json_path, png_path


def plot_beta(report: dict, path: Path) -> None:
    """Bar chart of beta per class; the top-ranked class highlighted."""
    classes = list(report["beta"])
    values = np.array([np.nan if report["beta"][c] is None else report["beta"][c] for c in classes])
    top = report["ranking"][0] if report["ranking"] else None
    colors = ["#c0392b" if c == top else "#7f8c8d" for c in classes]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    ax.bar(range(len(classes)), np.nan_to_num(values), color=colors)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_ylabel("change in confidence on own probes (β)")
    versions = report["versions"]
    ax.set_title(f"{versions['before']} → {versions['after']}: inferred '{top}'", fontsize=10)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def print_ranking(report: dict, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"classes ranked by confidence drop ({report['statistic']})")
    table.add_column("rank", justify="right")
    table.add_column("class")
    table.add_column("β", justify="right")
    table.add_column("probes", justify="right")
    for i, name in enumerate(report["ranking"], 1):
        beta = report["beta"][name]
        table.add_row(str(i), name, "n/a" if beta is None else f"{beta:+.3e}", str(report["probes_per_class"][name]))
    console.print(table)
    q = report["queries"]
    console.print(f"versions {report['versions']['before']} → {report['versions']['after']}; "
                  f"queries: {q['total']:,} in all")
