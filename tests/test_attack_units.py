"""The attacker's pieces alone, on analytic black boxes and hand-made answers: NES, each inference
statistic, separation and confidence, and every capability rule. No server, no model, fast."""

from __future__ import annotations

import numpy as np
import pytest

from attacker.capabilities import Capabilities, from_answers, from_model_info
from attacker.inference import STATISTICS, class_scores, estimate_removed_count, rank_classes, \
    separation
from attacker.optimizers import LowResNES
from attacker.optimizers.base import log_odds
from shared.schemas import ModelInfo, OutputFormat

SHAPE = (3, 8, 8)


def linear_softmax(classes: int = 5, seed: int = 0, top_k: int | None = None, decimals: int | None = None):
    """A black box softmax(W x + b) over flattened images, optionally hardened like the server does;
    counts the images it is asked."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.5, (classes, int(np.prod(SHAPE))))
    b = rng.normal(0, 0.1, classes)
    asked = []

    def black_box(x: np.ndarray) -> np.ndarray:
        assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1  # the server's contract
        asked.append(len(x))
        z = x.reshape(len(x), -1).astype(np.float64) @ w.T + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        if top_k is not None:
            hidden = np.argsort(p, 1)[:, :-top_k]
            np.put_along_axis(p, hidden, 0.0, 1)
        if decimals is not None:
            p = np.round(p, decimals)
        return p

    return black_box, asked


# ------------------------------------------------------------------ NES
@pytest.mark.parametrize("target", [0, 3])
def test_nes_reaches_the_threshold_and_counts_every_query(target):
    black_box, asked = linear_softmax()
    result = LowResNES(threshold=0.999, max_queries=20_000, resolution=4).generate(
        black_box, SHAPE, target, np.random.default_rng(1))
    assert result.accepted and result.confidence >= 0.999
    assert black_box(result.image[None].astype(np.float32))[0, target] == pytest.approx(result.confidence)
    assert result.queries == sum(asked) - 1  # every image but the check above was counted
    assert result.image.shape == SHAPE and result.image.dtype == np.float32


def test_nes_is_deterministic_for_a_seed():
    runs = [LowResNES(threshold=0.999, resolution=4).generate(linear_softmax()[0], SHAPE, 2, np.random.default_rng(7))
            for _ in range(2)]
    assert np.array_equal(runs[0].image, runs[1].image) and runs[0].queries == runs[1].queries
    other = LowResNES(threshold=0.999, resolution=4).generate(linear_softmax()[0], SHAPE, 2, np.random.default_rng(8))
    assert not np.array_equal(runs[0].image, other.image)


def test_nes_stops_at_its_query_cap_with_its_best_point():
    black_box, asked = linear_softmax()
    result = LowResNES(threshold=0.9999999, max_queries=200, resolution=4).generate(
        black_box, SHAPE, 1, np.random.default_rng(0))
    assert not result.accepted and result.queries == sum(asked) <= 200
    assert 0 < result.confidence < 0.9999999


def test_nes_works_when_the_server_hides_all_but_the_top_2():
    black_box, _ = linear_softmax(top_k=2)
    result = LowResNES(threshold=0.99, max_queries=30_000, resolution=4).generate(
        black_box, SHAPE, 4, np.random.default_rng(3))
    assert result.accepted


def test_nes_refuses_bad_parameters():
    for bad in ({"sigma": 0.0}, {"sigma": 0.6}, {"resolution": 0}, {"lr": -1.0}, {"threshold": 1.0},
                {"directions": 0}, {"bogus": 1}):
        with pytest.raises(ValueError):
            LowResNES(**bad)


# ------------------------------------------------------------------ statistics
def answers(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


BEFORE = answers([[0.90, 0.05, 0.05], [0.80, 0.10, 0.10], [0.10, 0.85, 0.05], [0.05, 0.05, 0.90]])
AFTER = answers([[0.70, 0.20, 0.10], [0.60, 0.20, 0.20], [0.10, 0.86, 0.04], [0.04, 0.05, 0.91]])
TARGETS = np.array([0, 0, 1, 2])


def test_beta_is_the_mean_change_of_own_class_confidence():
    scores = class_scores("beta", BEFORE, AFTER, TARGETS, 3)
    assert scores == pytest.approx([(-0.2 - 0.2) / 2, 0.01, 0.01])


def test_logodds_is_the_mean_change_of_own_class_log_odds():
    scores = class_scores("logodds", BEFORE, AFTER, TARGETS, 3)
    lo = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert scores == pytest.approx([(lo(0.7) - lo(0.9) + lo(0.6) - lo(0.8)) / 2, lo(0.86) - lo(0.85),
                                    lo(0.91) - lo(0.9)])
    assert log_odds(BEFORE, TARGETS) == pytest.approx([lo(0.9), lo(0.8), lo(0.85), lo(0.9)])


def test_logit_uses_every_probe_and_zlogit_divides_by_its_standard_error():
    def centred(p):
        logs = np.log(p)
        return logs - logs.mean(1, keepdims=True)

    shift = centred(AFTER) - centred(BEFORE)
    assert class_scores("logit", BEFORE, AFTER, TARGETS, 3) == pytest.approx(shift.mean(0))
    z = class_scores("zlogit", BEFORE, AFTER, TARGETS, 3)
    assert z == pytest.approx(shift.mean(0) / (shift.std(0, ddof=1) / np.sqrt(4)))


def test_a_class_without_probes_has_no_score_and_ranks_last():
    scores = class_scores("beta", BEFORE, AFTER, TARGETS, 4)
    assert np.isnan(scores[3])
    assert rank_classes(scores) == [0, 1, 2, 3]
    assert rank_classes(np.array([0.1, np.nan, -0.3, 0.0])) == [2, 3, 0, 1]


def test_every_statistic_refuses_mismatched_snapshots():
    for name in STATISTICS:
        with pytest.raises(ValueError, match="do not match"):
            class_scores(name, BEFORE, AFTER[:3], TARGETS, 3)


# ------------------------------------------------------------------ separation and confidence
def test_separation_is_a_robust_z_score_below_the_median():
    scores = np.array([-10.0, 0.0, 1.0, -1.0, 2.0, -2.0, 0.5])
    sep = separation(scores)
    mad = 1.4826 * np.median(np.abs(scores - np.median(scores)))
    assert sep == pytest.approx((np.median(scores) - scores) / mad)
    assert estimate_removed_count(scores) == 1


@pytest.mark.parametrize("scores, outliers", [
    ([-10.0, 0.0, 0.1, -0.1, 0.2, -0.2, 0.05, -0.05], 1),   # one class far below a tight bulk
    ([-10.0, -9.95, 0.0, 0.1, -0.1, 0.2, -0.2, 0.05], 2),   # two classes far below
    ([-0.45, 0.0, 0.1, -0.1, 0.2, -0.2, 0.05, -0.05], 0),  # ahead, but not an outlier
])
def test_the_removed_count_is_the_number_of_outliers(scores, outliers):
    assert estimate_removed_count(np.array(scores)) == outliers


# ------------------------------------------------------------------ capabilities
def info(**output) -> ModelInfo:
    return ModelInfo(version="v", input_shape=(3, 8, 8), classes=["a", "b", "c"], output=OutputFormat(**output))


@pytest.mark.parametrize("output", [{"label_only": True}, {"top_k": 1}])
def test_label_only_and_top1_outputs_allow_neither_probing_nor_ranking(output):
    caps = from_model_info(info(**output))
    assert not caps.can_probe and not caps.can_rank and caps.notes


def test_top_k_and_rounding_keep_the_attack_but_drop_the_all_class_statistics():
    for output, words in (({"top_k": 2}, "top-2"), ({"decimals": 3}, "rounds probabilities to 3 decimals")):
        caps = from_model_info(info(**output))
        assert caps.can_probe and caps.can_rank and not caps.all_probabilities
        assert any(words in note for note in caps.notes)
        assert caps.statistic("zlogit") == "logodds" and caps.statistic("logit") == "logodds"
        assert caps.statistic("beta") == "beta"
        assert any("used 'logodds' instead" in note for note in caps.notes)


def test_full_outputs_keep_every_statistic():
    caps = from_model_info(info())
    assert caps.can_probe and caps.can_rank and caps.all_probabilities and not caps.notes
    assert all(caps.statistic(name) == name for name in STATISTICS)


def test_answers_that_are_all_one_hot_cannot_be_ranked_even_if_undisclosed():
    caps = from_answers(answers([[1, 0, 0], [0, 1, 0]]), from_model_info(info()))
    assert not caps.can_rank and any("single non-zero" in note for note in caps.notes)


def test_answers_with_hidden_probabilities_drop_the_all_class_statistics():
    caps = from_answers(answers([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]]), Capabilities())
    assert caps.can_rank and not caps.all_probabilities and "some answers hide probabilities (zeros)" in caps.notes
    again = from_answers(answers([[0.9, 0.1, 0.0]]), caps)
    assert again.notes.count("some answers hide probabilities (zeros)") == 1
    full = from_answers(answers([[0.8, 0.1, 0.1]]), Capabilities())
    assert full.all_probabilities and not full.notes


def test_a_probe_set_loads_its_images_once_and_holds_one_copy(tmp_path):
    """A saved probe set reads each array once: its probes are rows of one image array (before,
    each probe held a whole fresh copy of it: 1,000 natural probes took ~12 GB)."""
    from attacker.optimizers.base import ProbeResult
    from attacker.probe_config import ProbeSetConfig, ProbeSpec
    from attacker.probes import ProbeSet

    config = ProbeSetConfig(version="m-000000000000", input_shape=(3, 4, 4), classes=["a", "b"],
                            spec=ProbeSpec())
    rng = np.random.default_rng(0)
    made = ProbeSet.open(tmp_path, config)
    made.add_all({(c, k): ProbeResult(rng.random((3, 4, 4), dtype=np.float32), c, 0.99, 10 + k, k != 3)
                  for c in range(2) for k in range(50)})
    loaded = ProbeSet.load(tmp_path)
    assert sorted(loaded.results) == sorted(made.results)
    for slot, result in loaded.results.items():
        assert np.array_equal(result.image, made.results[slot].image) and result.queries == made.results[slot].queries
    bases = {id(r.image.base) for r in loaded.results.values()}
    assert len(bases) == 1 and next(iter(loaded.results.values())).image.base.nbytes == 100 * 3 * 4 * 4 * 4
