"""The evaluation harness: its arithmetic, its grid, and a tiny grid end to end through the real
system, locally and on Ray, resumed without recomputing anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from attacker import LabelRule
from evaluation.ceiling import ceiling_table
from evaluation.compare import compare
from evaluation.detector import detector_table
from evaluation.executors import LocalExecutor, RayExecutor
from evaluation.grid import Attacker, Defense, GridConfig, Nulls, Removal, expand
from evaluation.ledger import GridLedger, grid_seconds, ledger_path
from evaluation.orchestrate import plan, run_grid
from evaluation.output_bench import OUTPUT_STATISTICS, run_bench
from evaluation.protocol import PROTOCOLS, Protocol, check_fresh, load_grid
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


def test_a_scored_seed_that_any_calibration_or_development_run_used_is_refused(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "cal.toml").write_text('name = "cal"\nseeds = []\ncalibration_seeds = [7, 8]\n')
    protocol = Protocol(name="p", frozen_on="2026-11-29", attacker=Attacker(), chosen_on=["cal"],
                        excluded_seeds=[3])
    check_fresh([1, 2], protocol, configs)  # fresh
    with pytest.raises(ValueError, match=r"seeds \[8\] are calibration seeds of \['cal.toml'\]"):
        check_fresh([2, 8], protocol, configs)
    with pytest.raises(ValueError, match=r"seeds \[3\] were used in development"):
        check_fresh([3], protocol, configs)
    # the committed grids themselves: none scores a seed another holds apart
    for path in (ROOT / "evaluation" / "configs").glob("*.toml"):
        load_grid(path)
    with pytest.raises(ValueError, match="proportions"):
        GridConfig(name="x", proportions=[0.0])
    with pytest.raises(ValueError):
        Defense(name="x", unlearning={"no_such_option": 1})


def test_a_grid_whose_history_null_would_see_too_few_updates_is_refused_before_it_starts():
    """Three null updates per original: a null case would test against two, fewer than the history
    null accepts (this grid once stopped at its first null case, after its probes were made)."""
    few = GridConfig(name="x", seeds=[0], proportions=[0.1, 0.5], nulls=Nulls(spread=1, retrains=1),
                     attacker=Attacker(null="history"))
    with pytest.raises(ValueError, match="needs 3 other null updates per case; .* null spread #0 .* has 2"):
        expand(few, CLASSES)
    expand(few.model_copy(update={"nulls": Nulls(spread=1, retrains=2)}), CLASSES)
    expand(few.model_copy(update={"attacker": Attacker(null="none")}), CLASSES)  # no history: no need
    # developer-side options make updates of their own: the nulls are counted per option
    noisy = Defense(name="noise", unlearning={"noise_sigma": 0.01})
    enough = few.model_copy(update={"nulls": Nulls(spread=1, retrains=2), "defenses": [Defense(name="none"), noisy]})
    cases = expand(enough, CLASSES)
    assert len({c.story for c in cases if c.null and c.defense == noisy}) == 4


def test_expand_covers_the_grid_and_draws_multi_class_removals():
    config = GridConfig(name="x", proportions=[0.1, 0.5], seeds=[0, 1], calibration_seeds=[7],
                        removals=[Removal(count=1), Removal(count=2, draws=4)],
                        defenses=[Defense(name="none"), Defense(name="top-3", before={"top_k": 3}, after={"top_k": 3})])
    cases = expand(config, CLASSES)
    positives = [c for c in cases if c.null is None]
    assert len(positives) == 3 * 2 * 2 * (10 + 4)
    assert sum(c.calibration for c in positives) == 2 * 2 * (10 + 4)
    # nulls per seed: spread deletions per proportion and defense, retrains per defense (3 each by default)
    assert len(cases) - len(positives) == 3 * 2 * (2 * 3 + 3)
    assert {c.classes for c in cases if c.null} == {()}
    pairs = {c.classes for c in cases if len(c.classes) == 2 and c.original.seed == 0}
    assert len(pairs) == 4 and all(len(set(p)) == 2 for p in pairs)
    assert expand(config, CLASSES) == cases  # seeded: the same grid every time
    with pytest.raises(ValueError, match="unknown classes"):
        expand(GridConfig(name="x", classes=["dragon"]), CLASSES)


# ---------------------------------------------------------------- a tiny grid, end to end
@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evaluation")
    config = load_grid(TINY)
    executor = LocalExecutor(workdir, threads=1)
    try:
        results = run_grid(config, workdir, executor, QUIET)
    finally:
        executor.close()
    return config, workdir, results


def test_the_attackers_default_rule_claims_no_more_than_any_frozen_protocol():
    """The CLI's labels come from the attacker's defaults: they may be stricter than a protocol's
    rule, never looser, so no report says `high` where no frozen, calibrated rule would."""
    default = LabelRule()
    frozen = [Protocol.load(path) for path in sorted(PROTOCOLS.glob("*.json"))]
    assert frozen, "no frozen protocol"
    for protocol in frozen:
        rule = protocol.attacker.rule
        assert default.high_p <= rule.high_p and default.medium_p <= rule.medium_p and default.name_p <= rule.name_p
        assert default.high_separation is None or (rule.high_separation is not None
                                                    and default.high_separation >= rule.high_separation)
        assert default.medium_separation >= rule.medium_separation
        assert default.name_separation >= rule.name_separation


@pytest.mark.slow
def test_tiny_grid_runs_through_the_real_system_and_scores(local_grid, tmp_path):
    config, workdir, results = local_grid
    positives = [r for r in results if not r.null]
    assert len(positives) == 2 * 2 * 2  # (scored + calibration seed) x 2 classes x 2 proportions
    assert len(results) - len(positives) == 2 * (2 * 2 + 2)  # per seed: 2 spread nulls per p, 2 retrains
    versions = {r.unlearned_version for r in results}
    assert len(versions) == len(results)  # every null is an update of its own
    for r in results:
        assert r.ranked and r.report.capabilities == []  # the default attacker: the API alone
        assert set(r.outcomes) == {"beta", "logodds", "logit", "zlogit"}
        assert r.queries > 0 and 0 <= r.accuracy_served <= 1 and r.original_version != r.unlearned_version
        # the attacker watched the seed's other null updates first: its history null
        detection = r.report.detection
        assert detection.null_model == "history" and detection.null_draws == 6 - r.null
        assert 0 < detection.p_value <= 1 and detection.score == pytest.approx(-np.log10(detection.p_value), abs=1e-3)
    for r in results:
        if r.null:
            assert r.truth == [] and not r.hit() and r.outcome().rank is None
        # the operator's reading of the same update's weights, for the ceiling table
        assert r.white_box is not None and (r.white_box.bias.rank is None) == r.null
    ceiling = ceiling_table(results, "logodds")
    assert {row.group for row in ceiling} == {"p = 0.1", "p = 0.5", "p ≥ 0.1"}
    assert all(row.bias_top1.n == row.positives and row.bias_auc is not None for row in ceiling)
    rows = accuracy_table(results)
    assert len(rows) == 2 * 4  # proportions x statistics, scored seed's positives only
    assert all(row.accuracy.n == 2 for row in rows)
    assert sum(row.right.n for row in calibration_table(results, "logodds")) == 4 + 6  # positives and nulls
    detector = detector_table(results, "logodds")
    assert {row.group for row in detector} == {"p = 0.1", "p = 0.5", "p ≥ 0.1"}
    # against the nulls of the same size: that p's spread deletions and the retrains
    assert all(row.nulls == (6 if row.group == "p ≥ 0.1" else 4) and 0 <= row.auc <= 1 for row in detector)
    summary = summarise(config, results, 1.0)
    assert summary.scored == 4 + 6 and summary.nulls == 6 and summary.null_high_rate.n == 6
    line = summary.line()
    assert line.startswith("top1_p_ge_0.1=") and "top1_p_0.003=nan" in line and " auc=" in line
    assert "tpr_at_5pct_fpr=" in line and "null_high_rate=" in line
    paths = write_outputs(config, results, summary, tmp_path / "out")
    names = {p.name for p in paths}
    assert {"accuracy.csv", "detection.csv", "cases.csv", "summary.json", "results.md", "top1-vs-p.png",
            "score-bars.png", "roc.png"} <= names
    assert len((tmp_path / "out" / "cases.csv").read_text().splitlines()) == 1 + len(results)


@pytest.mark.slow
def test_tiny_grid_gives_the_golden_rankings_scores_and_query_counts(local_grid):
    """The harness drives the attacker's library; the numbers are those of the code before (issue 17)."""
    _, _, results = local_grid
    check_golden("tiny-grid", {r.case.label(): fingerprint(r.report) for r in results if not r.null})


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
    # the ledger counts both runs: the first computed every case, the resumed one none
    ledger = GridLedger.model_validate_json(ledger_path(workdir, config.name).read_text())
    assert ledger.runs[0].computed_cases == len(results) and ledger.runs[0].seconds > 0
    assert ledger.runs[-1].computed_cases == 0 and grid_seconds(workdir, config.name) == ledger.seconds
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
    """Everything through Ray from an empty work directory: its two workers pretrain, fine-tune,
    probe, watch the history and tell the stories, and every case comes out as the local run's."""
    config, workdir, results = local_grid
    ray = pytest.importorskip("ray")  # the [ray] extra; part of [dev]
    ray_workdir = tmp_path / "ray"
    executor = RayExecutor(ray_workdir, workers=2, threads=1)
    try:
        on_ray = run_grid(config, ray_workdir, executor, QUIET)
    finally:
        executor.close()
        ray.shutdown()
    assert (ray_workdir / "developer").is_dir() and (ray_workdir / "probes").is_dir()  # trained and probed there
    assert [r.case_id for r in on_ray] == [r.case_id for r in results]
    assert [r.unlearned_version for r in on_ray] == [r.unlearned_version for r in results]
    assert [fingerprint(r.report) for r in on_ray] == [fingerprint(r.report) for r in results]
    assert [r.report.detection for r in on_ray] == [r.report.detection for r in results]
    assert [r.accuracy_served for r in on_ray] == [r.accuracy_served for r in results]
    assert compare(TINY, workdir, ray_workdir) == (len(results), len(results), [], [])  # the tool users run


@pytest.mark.slow
def test_compare_finds_a_changed_case_and_a_missing_one(local_grid, tmp_path):
    """`python -m evaluation.compare`: equal with itself; a changed number, a changed version and a
    lost case are each found, and nothing that only timed the run counts."""
    _, workdir, results = local_grid
    assert compare(TINY, workdir, workdir) == (len(results), len(results), [], [])
    copy = tmp_path / "copy"
    shutil.copytree(workdir / "cases", copy / "cases")
    store = ResultStore(copy)
    timed, changed, versioned, lost = results[0], results[1], results[2], results[3]
    store.put(timed.model_copy(update={"wall_seconds": timed.wall_seconds + 100}))
    store.put(changed.model_copy(update={"accuracy_served": changed.accuracy_served + 1e-6}))
    store.put(versioned.model_copy(update={"unlearned_version": "m-000000000000"}))
    store.path(lost.case).unlink()
    cases, equal, differing, missing = compare(TINY, workdir, copy)
    assert (cases, equal) == (len(results), len(results) - 3)
    assert differing == [changed.case_id, versioned.case_id] and len(missing) == 1 and lost.case_id in missing[0]


def test_each_output_statistic_names_a_class_whose_answers_fell():
    """The output bench's statistics, on synthetic answers: class 3's probability falls on every
    image, the rest renormalise; every statistic ranks class 3 first."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (500, 10))
    before = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    logits[:, 3] -= 1.5
    after = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    for name, statistic in OUTPUT_STATISTICS.items():
        scores = statistic(before, after)
        assert scores.shape == (10,) and int(np.argmin(scores)) == 3, name


@pytest.mark.slow
def test_the_output_bench_reads_calibration_cases_only_and_the_ceiling_the_grid_stored(local_grid, tmp_path):
    config, workdir, results = local_grid
    bench = run_bench(config, workdir, images=200)
    assert bench.cases == 2 * 2  # the calibration seed's positives: 2 classes x 2 proportions
    groups = {row.group for row in bench.rows}
    assert groups == {"p = 0.1", "p = 0.5", "p ≥ 0.25"}
    assert {row.statistic for row in bench.rows} == {*OUTPUT_STATISTICS, "ceiling_bias", "ceiling_rows"}
    assert all(row.top1.n == 2 for row in bench.rows if row.group != "p ≥ 0.25")
    # the ceiling it reads from the versions is the one the grid stored for the same cases
    held = [r for r in results if r.case.calibration and not r.null]
    stored = sum(r.white_box.bias.rank == 1 for r in held)
    assert bench.top1("ceiling_bias", "p = 0.1").hits + bench.top1("ceiling_bias", "p = 0.5").hits == stored
    assert bench.line().startswith("grid=tiny images=200 cases=4 top1_p_ge_0.25: centred_logit=")
    with pytest.raises(ValueError, match="no undefended calibration cases"):
        run_bench(config.model_copy(update={"calibration_seeds": []}), workdir, images=200)
    with pytest.raises(ValueError, match="4 of the grid's 4 calibration cases have not been run"):
        run_bench(config, tmp_path, images=200)
