"""The grid's figures (PNG): the report's own (per-class score bars for each p, its Figures 2–4
and 6–8; the pruning defense, its Figure 5) and the ones a reader of this system needs (top-1
against p with intervals; the detector's ROC against null updates; each defense's privacy
against its utility)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from attacker import score_values  # noqa: E402
from evaluation.detector import matched_nulls, nulls, positives, roc_points, undefended  # noqa: E402
from evaluation.results import CaseResult  # noqa: E402
from evaluation.scoring import AccuracyRow, DefenseRow, Rate, scored  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def score_bars(results: list[CaseResult], statistic: str, path: Path) -> Path | None:
    """For one removed class and seed, the per-class scores at every p (the report's bar figures)."""
    pool = [r for r in scored(results) if r.ranked and len(r.truth) == 1 and not r.case.defense.active
            and r.case.method == "exact" and statistic in r.outcomes]
    if not pool:
        return None
    first = pool[0]
    target = "cat" if any(r.truth == ["cat"] for r in pool) else first.truth[0]
    chosen = sorted((r for r in pool if r.truth == [target] and r.case.original == first.case.original),
                    key=lambda r: r.case.proportion)
    columns = min(3, len(chosen))
    rows = -(-len(chosen) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(chosen):]:
        ax.set_visible(False)
    for ax, r in zip(axes.flat, chosen):
        scores = r.report.scores if r.report.statistic == statistic else r.report.other_statistics[statistic]
        classes = list(scores)
        values = score_values(scores)
        ax.bar(range(len(classes)), np.nan_to_num(values),
               color=["#c0392b" if c == target else "#7f8c8d" for c in classes])
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(classes)), classes, rotation=70, fontsize=6)
        ax.set_title(f"p = {r.case.proportion:g}", fontsize=9)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    for row in axes:
        row[0].set_ylabel(f"{statistic} score", fontsize=8)
    fig.suptitle(f"{first.case.original.regime}, seed {first.case.original.seed}: {target} removed (red)", fontsize=10)
    return _save(fig, path)


def top1_vs_p(rows: list[AccuracyRow], classes: int, path: Path) -> Path | None:
    rows = [r for r in rows if not r.defended and r.method == "exact" and r.removed == 1]
    regimes = sorted({r.regime for r in rows})
    if not regimes:
        return None
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.5 * len(regimes), 3.6), squeeze=False)
    for ax, regime in zip(axes[0], regimes):
        for statistic in sorted({r.statistic for r in rows}):
            line = sorted((r for r in rows if r.regime == regime and r.statistic == statistic),
                          key=lambda r: r.proportion)
            x = [r.proportion for r in line]
            y = np.array([r.accuracy.value for r in line])
            err = np.array([[v - r.accuracy.low, r.accuracy.high - v] for v, r in zip(y, line)]).T
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=statistic)
        ax.axhline(1 / classes, color="grey", linestyle=":", linewidth=1, label=f"chance ({classes} classes)")
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("proportion p of the class removed")
        ax.set_ylabel("top-1 accuracy (95 % Wilson)")
        ax.set_title(regime)
        ax.legend(fontsize=7)
    return _save(fig, path)


def pruning(rows: list[DefenseRow], baseline: dict[str, DefenseRow], path: Path) -> Path | None:
    """Attack accuracy and test accuracy against the pruning rate, per policy (the report's Figure 5)."""
    series: dict[tuple[str, str], list[tuple[float, DefenseRow]]] = defaultdict(list)
    for row in rows:
        if row.pruning is not None:
            rate, policy = row.pruning
            series[(row.regime, policy)].append((rate, row))
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    acc_ax = ax.twinx()
    for (regime, policy), points in sorted(series.items()):
        none = baseline.get(regime)
        points = ([(0.0, none)] if none else []) + sorted(points, key=lambda t: t[0])
        x = [rate for rate, _ in points]
        ax.plot(x, [row.attack_accuracy.value for _, row in points], marker="o", label=f"attack top-1, {policy} ({regime})")
        acc_ax.plot(x, [row.accuracy_served for _, row in points], marker="s", linestyle="--",
                    label=f"test accuracy, {policy} ({regime})")
    ax.set_xlabel("pruning rate")
    ax.set_ylabel("attack top-1 accuracy")
    acc_ax.set_ylabel("test accuracy of the served unlearned model")
    ax.set_ylim(-0.02, 1.02)
    acc_ax.set_ylim(0, 1)
    lines = ax.get_legend_handles_labels()[0] + acc_ax.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + acc_ax.get_legend_handles_labels()[1]
    ax.legend(lines, labels, fontsize=6, loc="lower left")
    return _save(fig, path)


def privacy_utility(rows: list[DefenseRow], path: Path) -> Path | None:
    if len(rows) < 2:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for row in rows:
        rate: Rate = row.attack_accuracy
        ax.errorbar(row.accuracy_served, rate.value, yerr=[[rate.value - rate.low], [rate.high - rate.value]],
                    marker="o", capsize=2)
        ax.annotate(f"{row.defense} ({row.regime})", (row.accuracy_served, rate.value), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("test accuracy of the served unlearned model (utility)")
    ax.set_ylabel("attack top-1 accuracy (privacy lost)")
    ax.set_ylim(-0.02, 1.05)
    return _save(fig, path)


def roc(results: list[CaseResult], statistic: str, path: Path) -> Path | None:
    """The detector's ROC per regime: positives at each p (and each number of classes removed)
    against that regime's nulls of the same proportion (undefended, scored seeds), on a log
    false-positive axis where the low-FPR goals live."""
    pool = undefended(results)
    regimes = sorted({r.case.original.regime for r in nulls(pool)})
    if not regimes:
        return None
    fig, axes = plt.subplots(1, len(regimes), figsize=(4.8 * len(regimes), 4.2), squeeze=False)
    for ax, regime in zip(axes[0], regimes):
        neg = [r for r in nulls(pool) if r.case.original.regime == regime]
        pos = [r for r in positives(pool) if r.case.original.regime == regime]
        for count, p in sorted({(len(r.truth), r.case.proportion) for r in pos}):
            group = [r for r in pos if len(r.truth) == count and r.case.proportion == p]
            fpr, tpr = roc_points(group, matched_nulls(neg, [p]), statistic)
            label = f"p = {p:g}" if count == 1 else f"{count} classes, p = {p:g}"
            ax.plot(np.maximum(fpr, 1e-3), tpr, drawstyle="steps-post", label=label)
        for goal in (0.01, 0.05):
            ax.axvline(goal, color="grey", linestyle=":", linewidth=1)
        chance = np.logspace(-3, 0, 100)  # y = x, sampled: a log axis bends the straight line
        ax.plot(chance, chance, color="black", linewidth=0.6, linestyle="--", label="chance")
        ax.set_xscale("log")
        ax.set_xlim(1e-3, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("false-positive rate on the null updates of the same size")
        ax.set_ylabel("true-positive rate")
        ax.set_title(f"{regime}: detection ({statistic})")
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)
