import pytest
import torch

from shared.models import build_model
from shared.models.convnet import ConvNet
from tests.conftest import make_meta


def test_convnet_matches_the_paper_layer_stack():
    net = ConvNet(width=64, num_classes=10)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256), (256, 256), (256, 256)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 9
    assert [m.kernel_size for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)] == [3, 3]
    linear = net[-1]
    assert (linear.in_features, linear.out_features) == (36 * 64, 10)
    assert 3.4e6 < sum(p.numel() for p in net.parameters()) < 3.6e6


@pytest.mark.parametrize("arch, width, shape", [("convnet", 4, (3, 32, 32)), ("small_cnn", 8, (3, 32, 32)),
                                                 ("convnet", 4, (1, 28, 28)), ("small_cnn", 4, (1, 28, 28))])
def test_models_map_images_to_class_logits(arch, width, shape):
    meta = make_meta(arch=arch, width=width, input_shape=shape)
    model = build_model(meta).eval()
    assert model(torch.rand(5, *shape)).shape == (5, 10)


def test_normalisation_is_part_of_the_model_but_not_of_its_weights():
    meta = make_meta()
    model = build_model(meta)
    assert not any("normalize" in name for name in model.state_dict())
    torch.testing.assert_close(model.normalize(torch.full((1, 3, 2, 2), 0.75)), torch.ones(1, 3, 2, 2))


def test_too_small_inputs_are_refused():
    with pytest.raises(ValueError, match="at least"):
        build_model(make_meta(arch="convnet", input_shape=(3, 8, 8)))
