"""The operator's white-box feature recovery (recovery/) and its scoring (evaluation/), on a tiny model.

The developer makes the versions as in production (pretrain, fine-tune, approximate unlearning of
one image); the recovery sees only the two version directories; the test, like the evaluation
side, holds the truth and scores it.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from developer.config import UnlearningConfig
from developer.factory import developer_from_settings
from developer.settings import DeveloperSettings
from evaluation.image_metrics import random_baseline, score_images
from recovery.__main__ import main as recovery_main
from recovery.attack import recover
from recovery.config import RecoveryConfig
from recovery.errors import RecoveryInputError
from recovery.result import RecoveryResult
from shared.artifacts import save_version
from tests.conftest import make_meta, make_model

pytestmark = pytest.mark.slow

TINY = dict(train_limit=3000, test_limit=300, pretrain_epochs=1, width=8, threads=1)
FAST = RecoveryConfig(iterations=300, restarts=1, seed=0)  # the paper runs 10,000 x 5; this is a smoke scale
PSNR_MARGIN_DB = 3.0  # the recovered image must beat a random image by this much
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    torch.set_num_threads(1)  # one image's tiny kernels: more threads only contend with the other tests
    return developer_from_settings(DeveloperSettings(workdir=tmp_path_factory.mktemp("dev"), **TINY))


@pytest.fixture(scope="module")
def one_image(dev):
    """(θ, θ_u after approximate unlearning of one seeded image, that image, its label)."""
    sample = int(np.random.default_rng(12).choice(dev.finetune_indices))
    unlearned = dev.unlearn(dev.forget_set(sample_ids=[sample]), UnlearningConfig(method="approximate"))
    ds = dev.splits.dataset
    true = torch.from_numpy(ds.train_x[sample]).permute(2, 0, 1)[None].float() / 255.0
    return dev.finetune(), unlearned, true, int(ds.train_y[sample])


def test_one_unlearned_image_is_recovered_well_above_a_random_image(one_image):
    original, unlearned, true, label = one_image
    inversion, result = recover(original.path, unlearned.path, FAST, device=CPU)
    assert result.labels.source == "inferred" and result.labels.inferred == [label]
    assert inversion.images.shape == true.shape and 0 <= inversion.images.min() and inversion.images.max() <= 1
    recovered, random = score_images(true, inversion.images), random_baseline(true, seed=0)
    assert recovered.psnr > random.psnr + PSNR_MARGIN_DB, (recovered, random)
    assert recovered.ssim > random.ssim
    assert result.final_cosine_distance < 0.5  # the gradients align


def test_the_same_seed_gives_the_same_images_and_another_seed_other_images(one_image):
    original, unlearned, _, _ = one_image
    config = FAST.model_copy(update={"iterations": 60})
    first, _ = recover(original.path, unlearned.path, config, device=CPU)
    again, _ = recover(original.path, unlearned.path, config, device=CPU)
    other, _ = recover(original.path, unlearned.path, config.model_copy(update={"seed": 1}), device=CPU)
    assert torch.equal(first.images, again.images)
    assert not torch.equal(first.images, other.images)


def test_labels_of_a_batch_are_read_from_the_last_layer_and_a_batch_is_recovered(dev):
    labels = dev.splits.dataset.train_y[dev.finetune_indices]
    picks = [int(dev.finetune_indices[np.flatnonzero(labels == c)[0]]) for c in (2, 7)]
    unlearned = dev.unlearn(dev.forget_set(sample_ids=picks), UnlearningConfig(method="approximate"))
    inversion, result = recover(dev.finetune().path, unlearned.path, FAST.model_copy(update={"iterations": 20}),
                                num_images=2, device=CPU)
    assert sorted(result.labels.inferred) == [2, 7]
    assert set(result.labels.ranking[:2]) == {dev.classes[2], dev.classes[7]}
    assert inversion.images.shape == (2, 3, 32, 32)
    given, _ = recover(dev.finetune().path, unlearned.path, FAST.model_copy(update={"iterations": 5}),
                       num_images=2, labels=[7, 2], device=CPU)
    assert given.images.shape == (2, 3, 32, 32)


def test_the_cli_reads_a_server_store_and_prints_its_result_on_stdout(one_image, tmp_path, capsys):
    original, unlearned, _, label = one_image
    store = tmp_path / "store"
    for version in (original, unlearned):  # the server's layout: <store>/versions/<id>/
        shutil.copytree(version.path, store / "versions" / version.version)
    out = tmp_path / "out"
    code = recovery_main(["--store", str(store), "--iterations", "20", "--restarts", "2", "--out", str(out)])
    assert code == 0
    result = RecoveryResult.model_validate_json(capsys.readouterr().out)
    # the newest version and the parent its metadata names
    assert (result.before, result.after) == (original.version, unlearned.version)
    assert result.labels.inferred == [label] and len(result.restarts) == 2
    for path in (result.outputs.images, result.outputs.grid, result.outputs.loss_curve, result.outputs.result):
        assert (out / path.rsplit("/", 1)[-1]).is_file()
    assert json.loads((out / "result.json").read_text())["after"] == unlearned.version


def versions_of(tmp_path, **meta_changes):
    meta = make_meta()
    before = save_version(tmp_path / "a", make_model(meta, seed=0), meta)
    other = make_meta(**meta_changes) if meta_changes else meta
    after = save_version(tmp_path / "b", make_model(other, seed=1), other)
    return before, after


@pytest.mark.parametrize("change, message", [
    ({"width": 8}, "architecture"),
    ({"classes": [f"c{i}" for i in range(10)]}, "classes"),
])
def test_versions_of_different_models_are_refused(tmp_path, change, message):
    before, after = versions_of(tmp_path, **change)
    with pytest.raises(RecoveryInputError, match=message):
        recover(before, after, FAST, device=CPU)


def test_identical_versions_and_missing_files_are_refused(tmp_path):
    meta = make_meta()
    model = make_model(meta)
    a, b = save_version(tmp_path / "a", model, meta), save_version(tmp_path / "b", model, meta)
    with pytest.raises(RecoveryInputError, match="identical parameters"):
        recover(a, b, FAST, device=CPU)
    (b / "model.safetensors").unlink()
    with pytest.raises(RecoveryInputError, match="model.safetensors is missing"):
        recover(a, b, FAST, device=CPU)
    (b / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(RecoveryInputError, match="not a valid safetensors"):
        recover(a, b, FAST, device=CPU)


@pytest.mark.parametrize("args, message", [
    (["--store", "{tmp}/nowhere"], "is not a server store"),
    (["--store", "{tmp}/store", "--after", "missing"], "holds no version 'missing'"),
    (["--store", "{tmp}/store", "--after", "a"], "names no parent"),
    (["--before-dir", "{tmp}/store/versions/a"], "both --before-dir and --after-dir"),
    (["--before-dir", "{tmp}/store/versions/a", "--after-dir", "{tmp}/store/versions/b", "--labels", "unicorn"],
     "unknown label 'unicorn'"),
    (["--before-dir", "{tmp}/store/versions/a", "--after-dir", "{tmp}/store/versions/b", "--images", "0"],
     "--images must be between"),
])
def test_bad_cli_input_exits_2_with_a_message_and_writes_nothing(tmp_path, capsys, args, message):
    versions_of(tmp_path / "store" / "versions")
    out = tmp_path / "out"
    code = recovery_main([a.format(tmp=tmp_path) for a in args] + ["--out", str(out), "--iterations", "2"])
    captured = capsys.readouterr()
    assert code == 2 and message in captured.err and captured.out == ""
    assert not out.exists()


def test_scores_match_known_values_and_a_batch_is_matched_in_any_order():
    true = torch.zeros(2, 3, 8, 8)
    true[1] = 1.0
    shifted = true.flip(0).clone()
    shifted[0] = 0.9  # a recovered batch in the other order, one image off by 0.1
    scores = score_images(true, shifted)
    assert [(s.true_index, s.recovered_index) for s in scores.images] == [(0, 1), (1, 0)]
    assert scores.images[0].psnr == float("inf") or scores.images[0].psnr > 100
    assert scores.images[1].mse == pytest.approx(0.01) and scores.images[1].psnr == pytest.approx(20.0)
    with pytest.raises(ValueError, match="true images but"):
        score_images(true, shifted[:1])
