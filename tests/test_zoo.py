"""ZOO against toy black boxes whose optimum is known."""

import numpy as np
import pytest

from attacker.optimizers import Zoo


def quadratic_black_box(optimum: np.ndarray, target: int, classes: int = 3, scale: float = 4.0):
    """p_target = exp(-scale * ||x - optimum||^2), the rest spread evenly: minimised -log p at `optimum`."""
    calls = []

    def black_box(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        assert images.min() >= 0 and images.max() <= 1, "ZOO sent a pixel outside [0, 1]"
        d2 = ((images.reshape(len(images), -1) - optimum.reshape(-1)) ** 2).sum(1)
        p = np.exp(-scale * d2)
        probs = np.tile(((1 - p) / (classes - 1))[:, None], (1, classes))
        probs[:, target] = p
        return probs

    return black_box, calls


def test_zoo_finds_the_known_optimum_and_counts_queries():
    shape = (1, 4, 4)
    optimum = np.random.default_rng(0).uniform(0.2, 0.8, size=shape).astype(np.float32)
    black_box, calls = quadratic_black_box(optimum, target=1)
    zoo = Zoo(threshold=0.999, nb_parallel=8, max_iter=20, tries=10, lr=0.05)
    result = zoo.generate(black_box, shape, target=1, rng=np.random.default_rng(1))
    assert result.accepted and result.confidence >= 0.999
    assert np.abs(result.image - optimum).max() < 0.03
    assert result.queries == sum(calls)
    assert all(n in (1, 16) for n in calls)  # one batch of 2 * nb_parallel per step, single checks otherwise


def test_zoo_handles_optima_on_the_boundary():
    shape = (1, 3, 3)
    optimum = np.zeros(shape, np.float32)
    optimum[0, 0] = 1.0
    black_box, _ = quadratic_black_box(optimum, target=0)
    result = Zoo(threshold=0.99, nb_parallel=9, lr=0.05).generate(black_box, shape, 0, np.random.default_rng(2))
    assert result.accepted
    assert np.abs(result.image - optimum).max() < 0.05


def test_zoo_stops_at_the_query_cap_and_reports_failure():
    shape = (1, 4, 4)
    unreachable = np.full(shape, 2.0, np.float32)  # outside [0, 1]: p never exceeds exp(-16)
    black_box, calls = quadratic_black_box(unreachable, target=0, scale=1.0)
    result = Zoo(threshold=0.9995, nb_parallel=8, max_queries=500).generate(
        black_box, shape, 0, np.random.default_rng(0))
    assert not result.accepted
    assert result.queries == sum(calls) <= 500 + 1


def test_early_accept_spends_fewer_queries_than_the_full_try():
    shape = (1, 4, 4)
    optimum = np.full(shape, 0.5, np.float32)
    full = Zoo(threshold=0.9, nb_parallel=8, lr=0.05)
    early = Zoo(threshold=0.9, nb_parallel=8, lr=0.05, early_accept=True)
    a = full.generate(quadratic_black_box(optimum, 0)[0], shape, 0, np.random.default_rng(3))
    b = early.generate(quadratic_black_box(optimum, 0)[0], shape, 0, np.random.default_rng(3))
    assert a.accepted and b.accepted
    assert b.queries < a.queries
    assert b.confidence < a.confidence  # the full try overshoots


@pytest.mark.parametrize("kwargs", [{"threshold": 1.0}, {"nb_parallel": 0}, {"h": 0.0}, {"lr": -1.0},
                                    {"max_queries": 0}])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        Zoo(**kwargs)
