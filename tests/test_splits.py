import numpy as np
import pytest

from shared.data import load_dataset, select_forget_set, select_spread_set, split_public_private
from shared.data.splits import forget_count


def test_split_is_a_seeded_partition_of_80_20():
    d0, du = split_public_private(50_000, seed=3)
    assert d0.size == 40_000 and du.size == 10_000
    assert np.intersect1d(d0, du).size == 0
    assert np.array_equal(np.union1d(d0, du), np.arange(50_000))
    again_d0, _ = split_public_private(50_000, seed=3)
    other_d0, _ = split_public_private(50_000, seed=4)
    assert np.array_equal(d0, again_d0)
    assert not np.array_equal(d0, other_d0)


@pytest.mark.parametrize("n, fraction", [(1, 0.8), (10, 0.0), (10, 1.0)])
def test_split_rejects_degenerate_input(n, fraction):
    with pytest.raises(ValueError):
        split_public_private(n, seed=0, public_fraction=fraction)


def test_forget_count_is_floor_with_at_least_one():
    assert forget_count(1000, 0.003) == 3
    assert forget_count(1000, 0.5) == 500
    assert forget_count(1000, 1.0) == 1000
    assert forget_count(51, 0.01) == 1
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError):
            forget_count(10, bad)


def test_forget_set_takes_a_seeded_proportion_of_one_class_only():
    rng = np.random.default_rng(0)
    indices = np.sort(rng.choice(100_000, size=2_000, replace=False))
    labels = rng.integers(0, 10, size=indices.size)
    chosen = select_forget_set(indices, labels, cls=4, proportion=0.25, seed=7)
    members = indices[labels == 4]
    assert chosen.size == forget_count(members.size, 0.25)
    assert np.isin(chosen, members).all()
    assert np.array_equal(chosen, select_forget_set(indices, labels, 4, 0.25, seed=7))
    assert not np.array_equal(chosen, select_forget_set(indices, labels, 4, 0.25, seed=8))
    # a larger proportion is a superset of a smaller one under the same seed
    assert np.isin(chosen, select_forget_set(indices, labels, 4, 0.5, seed=7)).all()


def test_forget_set_of_an_absent_class_is_an_error():
    with pytest.raises(ValueError, match="class 3"):
        select_forget_set(np.arange(5), np.zeros(5, dtype=int), cls=3, proportion=0.5, seed=0)


@pytest.mark.parametrize("count", [1, 5, 25, 46, 200])
def test_a_spread_deletion_singles_out_no_class(count):
    """As evenly as counts allow: no class loses more than one sample more than another."""
    rng = np.random.default_rng(0)
    indices, labels = np.arange(1000, 1512), rng.integers(0, 10, 512)
    chosen = select_spread_set(indices, labels, count, seed=3, draw=1)
    assert chosen.size == count and np.unique(chosen).size == count and np.isin(chosen, indices).all()
    per_class = np.bincount(labels[chosen - 1000], minlength=10)
    assert per_class.max() - per_class.min() <= 1
    assert np.array_equal(chosen, select_spread_set(indices, labels, count, seed=3, draw=1))  # seeded
    assert not np.array_equal(chosen, select_spread_set(indices, labels, count, seed=3, draw=2)) or count == 1


def test_a_dataset_is_loaded_once_per_process_and_shared_read_only():
    first, again = load_dataset("cifar10-animals"), load_dataset("cifar10-animals")
    assert first is again and first.classes == ("bird", "cat", "deer", "dog", "frog", "horse")
    assert set(np.unique(first.train_y)) == set(range(6)) and len(first.train_x) == 30_000
    with pytest.raises(ValueError, match="read-only"):
        first.train_x[0, 0, 0, 0] = 0
