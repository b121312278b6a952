"""The evaluation harness: its arithmetic, its grid, and a tiny grid end to end through the real
system, locally and on Ray, resumed without recomputing anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rich.console import Console

from evaluation.executors import LocalExecutor, RayExecutor
from evaluation.grid import Defense, GridConfig, Removal, expand
from evaluation.orchestrate import plan, run_grid
from evaluation.results import ResultStore
from evaluation.scoring import Rate, accuracy_table, calibration_table, wilson
from evaluation.summary import summarise, write_outputs
from tests.conftest import CLASSES, ROOT
from tests.golden import check_golden, fingerprint

TINY = ROOT / "evaluation" / "configs" / "tiny.toml"
QUIET = Console(stderr=True, quiet=True)


def test_wilson_interval_matches_known_values():
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    assert Rate.of([True, True, False]).value == pytest.approx(2 / 3)


def test_grid_refuses_scoring_on_its_calibration_seeds():
    with pytest.raises(ValueError, match="must not overlap"):
        GridConfig(name="x", seeds=[0, 1], calibration_seeds=[1])
    with pytest.raises(ValueError, match="proportions"):
        GridConfig(name="x", proportions=[0.0])
    with pytest.raises(ValueError):
        Defense(name="x", unlearning={"no_such_option": 1})


def test_expand_covers_the_grid_and_draws_multi_class_removals():
    config = GridConfig(name="x", proportions=[0.1, 0.5], seeds=[0, 1], calibration_seeds=[7],
                        removals=[Removal(count=1), Removal(count=2, draws=4)],
                        defenses=[Defense(name="none"), Defense(name="top-3", before={"top_k": 3}, after={"top_k": 3})])
    cases = expand(config, CLASSES)
    assert len(cases) == 3 * 2 * 2 * (10 + 4)
    assert sum(c.calibration for c in cases) == 2 * 2 * (10 + 4)
    pairs = {c.classes for c in cases if len(c.classes) == 2 and c.original.seed == 0}
    assert len(pairs) == 4 and all(len(set(p)) == 2 for p in pairs)
    assert expand(config, CLASSES) == cases  # seeded: the same grid every time
    with pytest.raises(ValueError, match="unknown classes"):
        expand(GridConfig(name="x", classes=["dragon"]), CLASSES)


# ---------------------------------------------------------------- a tiny grid, end to end
@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evaluation")
    config = GridConfig.load(TINY)
    executor = LocalExecutor(workdir, threads=1)
    try:
        results = run_grid(config, workdir, executor, QUIET)
    finally:
        executor.close()
    return config, workdir, results


@pytest.mark.slow
def test_tiny_grid_runs_through_the_real_system_and_scores(local_grid, tmp_path):
    config, workdir, results = local_grid
    assert len(results) == 2 * 2 * 2  # (scored + calibration seed) x 2 classes x 2 proportions
    for r in results:
        assert r.ranked and r.report.capabilities == []  # the default attacker: the API alone
        assert set(r.outcomes) == {"beta", "logodds", "logit", "zlogit"}
        assert r.queries > 0 and 0 <= r.accuracy_served <= 1 and r.original_version != r.unlearned_version
    rows = accuracy_table(results)
    assert len(rows) == 2 * 4  # proportions x statistics, scored seed only
    assert all(row.accuracy.n == 2 for row in rows)
    assert sum(row.right.n for row in calibration_table(results, "logodds")) == 4
    summary = summarise(config, results, 1.0)
    assert summary.scored == 4 and summary.statistic_chosen_by.startswith("best top-N accuracy on 4 calibration")
    assert summary.line().startswith("top1_p_ge_0.1=") and "top1_p_0.003=nan" in summary.line()
    paths = write_outputs(config, results, summary, tmp_path / "out")
    names = {p.name for p in paths}
    assert {"accuracy.csv", "cases.csv", "summary.json", "results.md", "top1-vs-p.png", "score-bars.png"} <= names
    assert len((tmp_path / "out" / "cases.csv").read_text().splitlines()) == 1 + len(results)


@pytest.mark.slow
def test_tiny_grid_gives_the_golden_rankings_scores_and_query_counts(local_grid):
    """The harness drives the attacker's library; the numbers are those of the code before (issue 17)."""
    _, _, results = local_grid
    check_golden("tiny-grid", {r.case.label(): fingerprint(r.report) for r in results})


class MustNotRun:
    def run(self, tasks):
        tasks = list(tasks)
        if tasks:
            raise AssertionError(f"a resumed grid recomputed {len(tasks)} tasks")
        return iter(())


@pytest.mark.slow
def test_a_resumed_grid_recomputes_nothing_and_an_interrupted_one_only_the_rest(local_grid):
    config, workdir, results = local_grid
    store = ResultStore(workdir)
    _, prepare, stories = plan(config, store)
    assert prepare == [] and stories == []
    again = run_grid(config, workdir, MustNotRun(), QUIET)
    assert [r.model_dump() for r in again] == [r.model_dump() for r in results]
    # an interrupted grid: one case's result missing -> exactly that case is planned again
    lost = store.path(results[-1].case)
    saved = lost.read_bytes()
    lost.unlink()
    try:
        _, prepare, stories = plan(config, store)
        assert [len(s.cases) for s in stories] == [1] and stories[0].cases[0] == results[-1].case
    finally:
        lost.write_bytes(saved)


@pytest.mark.slow
def test_ray_executor_gives_the_local_results(local_grid, tmp_path):
    config, workdir, results = local_grid
    ray = pytest.importorskip("ray")  # the [ray] extra; part of [dev]
    ray_workdir = tmp_path / "ray"
    for part in ("developer", "probes"):  # the trained models and probe sets; the cases are recomputed
        shutil.copytree(workdir / part, ray_workdir / part)
    executor = RayExecutor(ray_workdir, workers=1, threads=1)
    try:
        on_ray = run_grid(config, ray_workdir, executor, QUIET)
    finally:
        executor.close()
        ray.shutdown()
    assert [r.case_id for r in on_ray] == [r.case_id for r in results]
    assert [{k: o.rank for k, o in r.outcomes.items()} for r in on_ray] == \
        [{k: o.rank for k, o in r.outcomes.items()} for r in results]
    assert [r.accuracy_served for r in on_ray] == [r.accuracy_served for r in results]
