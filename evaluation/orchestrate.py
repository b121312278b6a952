"""Run a grid: expand it, skip the cases already done, prepare what the rest share (per seed),
then tell the stories, with a progress bar over cases. Interrupted, it continues where it stopped:
each finished case is a file (evaluation/results.py) and each model a cached checkpoint."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from evaluation.executors import Executor, ExecutorConfig, make_executor
from evaluation.grid import Case, GridConfig, expand, watched_key, watched_nulls
from evaluation.ledger import LedgerWriter, grid_seconds
from evaluation.results import CaseResult, ResultStore
from evaluation.runner import HistoryTask, PrepareTask, StoryTask
from evaluation.summary import GridSummary, summarise, write_outputs
from shared.data import load_dataset


def plan(config: GridConfig, store: ResultStore) -> tuple[list[Case], list[PrepareTask], list[StoryTask]]:
    """All cases, and the tasks that compute the missing ones."""
    dataset = load_dataset(config.model.dataset)  # class names only
    cases = expand(config, list(dataset.classes))
    todo = [case for case in cases if store.get(case) is None]
    watched = watched_nulls(cases)  # finished cases included: the history is observed anew
    prepare = []
    for seed, group in itertools.groupby(sorted(todo, key=lambda c: c.original.seed), key=lambda c: c.original.seed):
        group = list(group)
        keys = list({case.probe_key.digest(): case.probe_key for case in group}.values())
        histories = {case.history_key.digest(): case.history_key for case in group}
        prepare.append(PrepareTask(seed, tuple(keys), tuple(
            HistoryTask(key, tuple(watched.get(watched_key(key.probe.original, key.unlearning), {}).values()))
            for key in histories.values())))
    stories: dict[tuple, list[Case]] = {}
    for case in todo:
        stories.setdefault(case.story, []).append(case)
    return cases, prepare, [StoryTask(tuple(group)) for group in stories.values()]


def run_grid(config: GridConfig, workdir: Path, executor: Executor, console: Console) -> list[CaseResult]:
    store = ResultStore(workdir)
    cases, prepare, stories = plan(config, store)
    done = len(cases) - sum(len(s.cases) for s in stories)
    console.print(f"grid {config.name}: {len(cases)} cases, {done} already done; "
                  f"{len(prepare)} seeds to prepare, {len(stories)} unlearned versions to make")
    start = time.perf_counter()
    ledger = LedgerWriter(workdir, config.name)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        seeds = bar.add_task("prepare (models, probes)", total=len(prepare))
        for _ in executor.run(prepare):
            bar.advance(seeds)
            ledger.advance()
        task = bar.add_task("cases", total=len(cases), completed=done)
        for results in executor.run(stories):
            bar.advance(task, len(results))
            ledger.advance(len(results))
    ledger.advance()
    console.print(f"grid {config.name}: done in {time.perf_counter() - start:.0f} s")
    missing = [case for case in cases if store.get(case) is None]
    if missing:
        raise RuntimeError(f"{len(missing)} cases have no result, e.g. {missing[0].label()}")
    return [store.get(case) for case in cases]


def evaluate(config: GridConfig, workdir: Path, where: ExecutorConfig, out: Path | None, command: str,
             console: Console) -> GridSummary:
    """Run the grid on the chosen executor, then score it and write its tables and figures to `out`
    (default <workdir>/<grid name>). The one entry point of `python -m evaluation` and the benchmarks."""
    start = time.perf_counter()
    executor = make_executor(where, workdir)
    try:
        results = run_grid(config, workdir, executor, console)
    finally:
        executor.close()
    summary = summarise(config, results, time.perf_counter() - start, config.protocol,
                        grid_seconds(workdir, config.name))
    paths = write_outputs(config, results, summary, out or workdir / config.name, command)
    console.print("wrote " + ", ".join(str(p) for p in paths))
    return summary
