"""The attacker's opt-in capabilities, unit by unit: public data, natural probes, and the shadow
calibration as the default attacker reads it. (End to end: tests/test_attacker_options.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from attacker.calibration import ShadowCalibration
from attacker.natural_probes import choose_natural
from attacker.public_data import load_public_images


def _npz(path, n=12, labels=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
    extra = {"labels": np.arange(n) % 3, "label_names": np.array(["a", "b", "c"])} if labels else {}
    np.savez(path, images=images, **extra)
    return images


def test_public_npz_is_read_as_float_chw_with_labels(tmp_path):
    images = _npz(tmp_path / "d0.npz")
    public = load_public_images(tmp_path / "d0.npz", input_shape=(3, 8, 8))
    assert public.images.shape == (12, 3, 8, 8) and public.images.dtype == np.float32
    np.testing.assert_allclose(public.images[3], images[3].transpose(2, 0, 1) / 255.0)
    assert public.labels.tolist() == [i % 3 for i in range(12)] and public.label_names == ["a", "b", "c"]
    subset = load_public_images(tmp_path / "d0.npz", limit=5, seed=1)
    assert len(subset.images) == 5
    np.testing.assert_array_equal(subset.images, load_public_images(tmp_path / "d0.npz", limit=5, seed=1).images)
    assert "12 images" in public.describe()


def test_public_data_errors_say_what_is_wrong(tmp_path):
    _npz(tmp_path / "d0.npz")
    with pytest.raises(ValueError, match=r"images are \(3, 8, 8\).*takes \(3, 32, 32\)"):
        load_public_images(tmp_path / "d0.npz", input_shape=(3, 32, 32))
    with pytest.raises(FileNotFoundError, match="expected an .npz file or an ImageFolder"):
        load_public_images(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        load_public_images(tmp_path / "bad.npz")


def test_image_folder_labels_come_from_the_directory_names(tmp_path):
    for name, value in (("cat", 10), ("dog", 200)):
        (tmp_path / name).mkdir()
        for k in range(2):
            Image.fromarray(np.full((8, 8, 3), value + k, np.uint8)).save(tmp_path / name / f"{k}.png")
    public = load_public_images(tmp_path)
    assert public.label_names == ["cat", "dog"] and public.labels.tolist() == [0, 0, 1, 1]
    assert public.images[2, 0, 0, 0] == pytest.approx(200 / 255)


def test_natural_probes_are_each_class_s_most_confident_images():
    probs = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.2, 0.7, 0.1], [0.95, 0.05, 0.0], [0.1, 0.1, 0.8]])
    chosen = choose_natural(probs, per_class=2)
    assert chosen == [(0, 0, 3), (0, 1, 0), (1, 0, 2), (2, 0, 4)]  # class 1 has one image assigned; no more


def _calibration(rows):
    return ShadowCalibration(probe_digest="x", classes=["a", "b", "c", "d"], config={}, public_images=100,
                             scores={"logodds": rows})


def test_shadow_null_is_each_class_s_score_when_others_were_removed():
    rows = [[-5.0, -1.0, 0.0, 1.0],  # class a removed
            [0.0, -4.0, 1.0, 3.0],   # class b removed
            [2.0, -3.0, -6.0, 5.0],  # class c removed
            [1.0, -2.0, 2.0, -9.0]]  # class d removed
    mean, std = _calibration(rows).null("logodds")
    assert mean.tolist() == pytest.approx([1.0, -2.0, 1.0, 3.0])
    assert std.tolist() == pytest.approx([1.0, 1.0, 1.0, 2.0])


def test_shadow_normalisation_lets_a_quiet_class_outrank_a_fragile_one():
    # b always drops a lot under retraining; a barely moves unless removed
    rows = [[-3.0, -10.0, 0.1, 0.0], [0.1, -14.0, 0.0, 0.1], [0.0, -9.0, -3.0, -0.1], [-0.1, -11.0, 0.1, -3.0]]
    cal = _calibration(rows)
    observed = np.array([-2.0, -11.0, 0.0, 0.0])  # raw: b ranks first; a is the one out of its null
    z = cal.normalise("logodds", observed)
    assert int(np.argmin(observed)) == 1 and int(np.argmin(z)) == 0
    with pytest.raises(ValueError, match="no statistic 'beta'"):
        cal.normalise("beta", observed)
