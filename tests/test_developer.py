"""The developer's training and unlearning, in process, on a toy subset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from developer.config import UnlearningConfig
from developer.factory import developer_from_settings
from developer.settings import DeveloperSettings
from developer.training import train_epochs
from developer.unlearning import ascent_steps, gradient_ascent, loss_on

pytestmark = pytest.mark.slow

TINY = dict(train_limit=3000, test_limit=300, pretrain_epochs=1, width=4, threads=2)


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    return developer_from_settings(DeveloperSettings(workdir=tmp_path_factory.mktemp("dev"), **TINY))


def state(version) -> dict[str, torch.Tensor]:
    return version.load().state_dict()


def test_exact_unlearning_of_nothing_reproduces_the_original_bit_for_bit(dev):
    original = dev.finetune()
    replay = dev.unlearn(np.empty(0, np.int64))
    assert replay.path != original.path
    a, b = state(original), state(replay)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert replay.version == original.version  # the version id is the content's


def test_exact_unlearning_differs_through_x_and_reseeding_changes_the_order(dev):
    original = dev.finetune()
    forget = dev.forget_set([(3, 1.0)])
    assert forget.size > 0 and np.isin(forget, dev.finetune_indices).all()
    same_order = dev.unlearn(forget)
    reseeded = dev.unlearn(forget, UnlearningConfig(reseed=True))
    o, s, r = state(original), state(same_order), state(reseeded)
    dist = lambda x, y: sum(float((x[k].float() - y[k].float()).norm()) for k in x)  # noqa: E731
    assert dist(o, s) > 0 and dist(s, r) > 0 and dist(o, r) > 0
    assert same_order.record()["method"] == "exact" and same_order.meta.parent == original.version


def test_approximate_unlearning_lowers_confidence_on_x(dev):
    forget = dev.forget_set([(5, 1.0)])
    ds = dev.splits.dataset
    original = dev.finetune()
    before = loss_on(original.load(), ds.train_x, ds.train_y, forget, dev.device)
    unlearned = dev.unlearn(forget, UnlearningConfig(method="approximate", approx_epochs=4))
    after = loss_on(unlearned.load(), ds.train_x, ds.train_y, forget, dev.device)
    assert after > before
    others = np.setdiff1d(dev.finetune_indices, forget)
    # the rest of the training data is hurt less than X
    assert (loss_on(unlearned.load(), ds.train_x, ds.train_y, others, dev.device)
            - loss_on(original.load(), ds.train_x, ds.train_y, others, dev.device)) < after - before
    assert unlearned.record()["steps"] == ascent_steps(forget.size, 4, min(128, forget.size))


def test_gradient_noise_of_zero_is_no_noise(dev):
    ds = dev.splits.dataset
    forget = dev.forget_set([(1, 1.0)])
    models = [dev.finetune().load() for _ in range(3)]
    gradient_ascent(models[0], ds.train_x, ds.train_y, forget, dev.device, lr=1e-2, epochs=1, batch_size=16)
    gradient_ascent(models[1], ds.train_x, ds.train_y, forget, dev.device, lr=1e-2, epochs=1, batch_size=16,
                    noise_sigma=0.0, noise_seed=123)
    gradient_ascent(models[2], ds.train_x, ds.train_y, forget, dev.device, lr=1e-2, epochs=1, batch_size=16,
                    noise_sigma=0.1)
    a, b, c = (m.state_dict() for m in models)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    # and in training loops
    order = [dev.finetune_indices[:64]]
    trained = []
    for sigma in (None, 0.0):
        model = dev.finetune().load()
        kwargs = {} if sigma is None else {"grad_noise": sigma, "noise_seed": 7}
        train_epochs(model, ds.train_x, ds.train_y, order, torch.optim.SGD(model.parameters(), lr=0.01), dev.device,
                     batch_size=32, **kwargs)
        trained.append(model.state_dict())
    assert all(torch.equal(trained[0][k], trained[1][k]) for k in trained[0])


def test_obfuscation_and_finetuning_defenses_change_the_model_and_are_recorded(dev):
    forget = dev.forget_set([(2, 0.5)])
    plain = dev.unlearn(forget)
    noisy = dev.unlearn(forget, UnlearningConfig(noise_sigma=0.01))
    defended = dev.unlearn(forget, UnlearningConfig(finetune_samples=256, finetune_epochs=1))
    assert len({plain.version, noisy.version, defended.version}) == 3
    assert defended.record()["defense_finetune"] == {"samples": 256, "epochs": 1}


def test_forget_set_checks_ids(dev):
    du, f = dev.splits.du, dev.finetune_indices
    outside_f = np.setdiff1d(du, f)[:3]
    assert dev.forget_set([], outside_f.tolist()).size == 0  # user data never trained on: nothing to remove
    assert dev.forget_set([], [int(f[0]), int(f[1])]).tolist() == sorted([int(f[0]), int(f[1])])
    with pytest.raises(ValueError, match="not in D_u"):
        dev.forget_set([], [int(dev.splits.d0[0])])
    with pytest.raises(ValueError, match="unknown class"):
        dev.class_index("unicorn")


def test_grayscale_image_folder_of_another_size(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 10)):
        for cls, level in (("dark", 40), ("light", 200)):
            (tmp_path / "data" / split / cls).mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(rng.normal(level, 20, size=(28, 28)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(tmp_path / "data" / split / cls / f"{i}.png")
    dev = developer_from_settings(DeveloperSettings(workdir=tmp_path / "w", dataset=str(tmp_path / "data"),
                                                    pretrain_epochs=3, width=4, threads=2))
    original = dev.finetune()
    assert original.meta.input_shape == (1, 28, 28) and original.meta.classes == ["dark", "light"]
    assert original.meta.training.test_accuracy >= 0.9


def per_class_accuracy(dev, version) -> np.ndarray:
    """Test accuracy of each class."""
    ds, idx = dev.splits.dataset, dev.splits.test
    model = version.load().eval()
    correct, total = np.zeros(len(dev.classes)), np.zeros(len(dev.classes))
    with torch.inference_mode():
        for lo in range(0, idx.size, 500):
            part = idx[lo:lo + 500]
            x = torch.from_numpy(ds.test_x[part]).permute(0, 3, 1, 2).float().div(255)
            pred = model(x).argmax(1).numpy()
            np.add.at(total, ds.test_y[part], 1)
            np.add.at(correct, ds.test_y[part], pred == ds.test_y[part])
    return correct / np.maximum(total, 1)


def test_exact_unlearning_of_a_whole_class_forgets_that_class_only(tmp_path):
    # No pretraining: the model learns every class from D_u alone, so a retrain without all of
    # one class must lose that class (and only that class). Removing the wrong samples fails here.
    dev = developer_from_settings(DeveloperSettings(workdir=tmp_path / "w", train_limit=6000, test_limit=1000,
                                                    pretrain_epochs=0, width=8, regime="long", threads=2))
    original = dev.finetune()
    before = per_class_accuracy(dev, original)
    target = int(np.argmax(before))  # the class the original learned best from D_u
    assert before[target] >= 0.4, before
    after = per_class_accuracy(dev, dev.unlearn(dev.forget_set([(target, 1.0)])))
    assert after[target] <= 0.02, after  # never predicted once its samples are gone
    others = np.arange(len(before)) != target
    assert after[others].mean() >= before[others].mean() - 0.03, (before, after)


def test_published_metadata_carries_nothing_about_the_deletion(dev):
    """Only the TrainingSummary allow-list travels with the weights; the same facts whatever X was."""
    small, large = dev.forget_set([(4, 0.1)]), dev.forget_set([(4, 1.0)])
    published = []
    for forget in (small, large):
        for config in (UnlearningConfig(), UnlearningConfig(method="approximate", approx_epochs=3),
                       UnlearningConfig(noise_sigma=0.01, finetune_samples=64)):
            version = dev.unlearn(forget, config)
            stored = json.loads((version.path / "metadata.json").read_text())["training"]
            published.append({k: v for k, v in stored.items() if k != "test_accuracy"})
            assert version.record()["method"] == config.method  # the developer keeps it privately
    assert all(p == published[0] for p in published), published
    assert {k for k, v in published[0].items() if v is not None} == {"stage", "profile", "dataset", "seed", "regime"}
