import numpy as np
import pytest

from attacker.inference import class_scores, rank_classes


def test_beta_is_the_mean_own_class_confidence_change():
    targets = np.array([0, 0, 1, 2])
    before = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    after = before.copy()
    after[0] = [0.7, 0.2, 0.1]  # class 0 probes lose 0.2 and 0.0 -> beta_0 = -0.1
    after[3] = [0.05, 0.1, 0.85]  # class 2 gains
    beta = class_scores("beta", before, after, targets, 4)
    np.testing.assert_allclose(beta[:3], [-0.1, 0.0, 0.05])
    assert np.isnan(beta[3])
    assert rank_classes(beta) == [0, 1, 2, 3]


def test_mismatched_snapshots_are_refused():
    with pytest.raises(ValueError):
        class_scores("beta", np.zeros((3, 2)), np.zeros((4, 2)), np.zeros(3, int), 2)
