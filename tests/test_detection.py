"""The attack as a detector, on synthetic answers whose truth is known: each null model detects a
planted class-specific change, does not detect a planted change that is the same for every class,
and attributes the change to the class it was planted in even where another class moves more on
every update; without a null model the rule never says `high`, and it abstains when nothing
stands out."""

from __future__ import annotations

import numpy as np
import pytest

from attacker.analysis import ranked_report
from attacker.calibration import ShadowCalibration, ShadowConfig
from attacker.detection import standardise, weigh
from attacker.inference import class_scores
from attacker.labels import LabelRule
from attacker.nulls import MIN_HISTORY, history_null, resample_null, shadow_null
from shared.schemas import AttackReport, NESParams, QueryCounts, VersionPair

CLASSES = 10
PER_CLASS = 20
FRAGILE, TARGET = 3, 7
TARGETS = np.repeat(np.arange(CLASSES), PER_CLASS)


def probabilities(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def before_logits(rng: np.random.Generator) -> np.ndarray:
    """Probes of each class: their own class's logit 8 above the others (p_c ~ 0.997)."""
    logits = rng.normal(0, 0.3, (CLASSES * PER_CLASS, CLASSES))
    logits[np.arange(len(TARGETS)), TARGETS] += 8.0
    return logits


def update(logits: np.ndarray, rng: np.random.Generator, drop: float = 0.0, uniform: float = 0.0) -> np.ndarray:
    """An update: every class's logit moves a little, the fragile class's a lot (either way), the
    target class's drops by `drop`, every own-class logit by `uniform`."""
    shift = rng.normal(0, 0.05, CLASSES)
    shift[FRAGILE] = rng.normal(0, 1.0)
    shift[TARGET] -= drop
    after = logits + shift + rng.normal(0, 0.02, logits.shape)
    after[np.arange(len(TARGETS)), TARGETS] -= uniform
    return probabilities(after)


def scores_of(statistic, before, after, targets=TARGETS):
    return class_scores(statistic, before, after, targets, CLASSES)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    logits = before_logits(rng)
    before = probabilities(logits)
    history = {f"v{k}": update(logits, rng) for k in range(8)}  # updates that targeted nothing
    return logits, before, history, rng


def history_of(before, history):
    return history_null(lambda statistic, after: scores_of(statistic, before, after), history)


def test_the_history_null_attributes_a_planted_change_that_the_fragile_class_outmoves(world):
    logits, before, history, rng = world
    after = update(logits, np.random.default_rng(11), drop=1.0)
    raw = scores_of("logodds", before, after)
    plain = weigh(raw, None, "logodds")
    weighed = weigh(raw, history_of(before, history), "logodds")
    assert int(np.nanargmin(weighed.scores)) == TARGET  # measured against its own noise
    assert weighed.detection.null_model == "history" and weighed.detection.null_draws == len(history)
    assert weighed.detection.p_value <= LabelRule().high_p
    assert LabelRule().label(weighed.scores, weighed.detection).label == "high"
    assert plain.detection.p_value is None  # without a null model there is no p-value to give


@pytest.mark.parametrize("seed", range(5))
def test_the_history_null_does_not_flag_an_update_that_targets_nothing(world, seed):
    logits, before, history, _ = world
    after = update(logits, np.random.default_rng(100 + seed))  # the fragile class moves; nothing targeted
    weighed = weigh(scores_of("logodds", before, after), history_of(before, history), "logodds")
    assert weighed.detection.p_value > 0.01
    assert LabelRule().label(weighed.scores, weighed.detection).label in ("none", "low")


def test_a_change_the_same_for_every_class_is_not_a_class_singled_out(world):
    logits, before, history, _ = world
    after = update(logits, np.random.default_rng(21), uniform=0.6)  # every probe loses the same margin
    for null in (history_of(before, history), None):
        weighed = weigh(scores_of("logodds", before, after), null, "logodds")
        assert LabelRule().label(weighed.scores, weighed.detection).label in ("none", "low"), weighed.detection


def test_the_history_needs_enough_updates():
    with pytest.raises(ValueError, match=f"at least {MIN_HISTORY}"):
        history_null(lambda statistic, after: np.zeros(CLASSES), {"v1": None, "v2": None})


def test_a_class_that_moved_where_most_classes_never_move_is_not_infinitely_sure():
    """A counting statistic (label flips) leaves most classes' nulls flat: the SD floor then takes
    its scale from the classes that move, not from a median of 0 (which gave a z of 1e300)."""
    draws = np.zeros((3, CLASSES))
    draws[:, 6] = [0.5, 0.0, 1.0]
    observed = np.zeros(CLASSES)
    observed[8] = -0.5  # a class whose null never moved, moved once
    z, _ = standardise(observed, draws, centred=False)
    assert np.all(np.isfinite(z)) and -100 < z[8] < -1 and z[0] == 0
    z, _ = standardise(observed, np.zeros((3, CLASSES)), centred=False)  # nothing moves: unit scale
    assert -5 < z[8] < 0


def test_the_resampling_null_sees_probe_noise_only_and_says_so(world):
    logits, before, _, _ = world
    planted = update(logits, np.random.default_rng(31), drop=0.6)
    null = resample_null(scores_of, before, planted, TARGETS, seed=0, resamples=100)
    weighed = weigh(scores_of("logodds", before, planted), null, "logodds")
    assert weighed.detection.probe_noise_only and int(np.nanargmin(weighed.scores)) in (TARGET, FRAGILE)
    assert weighed.detection.p_value < 1e-3
    same = probabilities(logits + np.random.default_rng(3).normal(0, 0.02, logits.shape))  # noise only
    quiet = weigh(scores_of("logodds", before, same), resample_null(scores_of, before, same, TARGETS), "logodds")
    assert quiet.detection.p_value > 0.01


def test_the_shadow_null_leaves_out_the_removal_of_the_class_itself():
    table = np.full((CLASSES, CLASSES), 0.0) + np.random.default_rng(0).normal(0, 0.1, (CLASSES, CLASSES))
    table[np.arange(CLASSES), np.arange(CLASSES)] = -50.0  # what removing the class itself does
    calibration = ShadowCalibration(probe_digest="x", classes=[str(c) for c in range(CLASSES)],
                                    config=ShadowConfig(), public_images=10, scores={"logodds": table.tolist()})
    draws = shadow_null(calibration).draws("logodds")
    assert np.isnan(draws[np.arange(CLASSES), np.arange(CLASSES)]).all() and (np.isnan(draws).sum(0) == 1).all()
    raw = np.random.default_rng(1).normal(0, 0.1, CLASSES)
    raw[TARGET] = -1.5
    weighed = weigh(raw, shadow_null(calibration), "logodds")
    assert int(np.argmin(weighed.scores)) == TARGET and weighed.detection.p_value < 1e-3


@pytest.mark.parametrize("scores, label", [
    ([-10.0, 0.0, 0.1, -0.1, 0.2, -0.2, 0.05, -0.05], "medium"),  # far out, but no null model: no `high`
    ([-0.45, 0.0, 0.1, -0.1, 0.2, -0.2, 0.05, -0.05], "low"),  # ahead, but not far
    ([-0.12, 0.0, 0.1, -0.1, 0.2, -0.2, 0.05, -0.05], "none"),  # nothing stands out
])
def test_without_a_null_model_the_rule_never_says_high_and_abstains_when_nothing_stands_out(scores, label):
    scores = np.array(scores)
    assert LabelRule().label(scores, weigh(scores, None, "logodds").detection).label == label
    fitted = LabelRule(high_separation=20.0)  # a rule that met its goals without a null model may
    assert fitted.label(scores, weigh(scores, None, "logodds").detection).label == \
        ("high" if label == "medium" else label)


def test_a_report_that_abstains_names_no_class_but_still_ranks():
    classes = [f"c{i}" for i in range(8)]
    raw = {"logodds": np.array([-0.12, 0.0, 0.1, -0.1, 0.2, -0.2, 0.05, -0.05])}
    common = dict(versions=VersionPair(before="a", after="b"), probes_per_class={c: 1 for c in classes},
                  probe_method=NESParams(), queries=QueryCounts(probing=1, snapshot_before=1, snapshot_after=1))
    report = ranked_report(common, [], "logodds", classes, raw, None, None, LabelRule())
    assert report.confidence.label == "none" and report.inferred == [] and report.removed_count.used == 0
    assert report.ranking[0] == "c5" and report.detection.score == pytest.approx(report.confidence.top_separation, abs=1e-3)
    AttackReport.model_validate_json(report.model_dump_json())
    with pytest.raises(ValueError, match="names no class exactly when"):
        AttackReport.model_validate({**report.model_dump(), "inferred": ["c5"]})
