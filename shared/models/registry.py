"""Build a model from its metadata; the only way any service turns metadata into a module."""

from __future__ import annotations

import torch
from torch import nn

from shared.models.convnet import ConvNet
from shared.models.normalize import Normalize
from shared.models.small_cnn import SmallCNN
from shared.schemas.model import ModelMetadata

ARCHITECTURES: dict[str, type[nn.Module]] = {"small_cnn": SmallCNN, "convnet": ConvNet}


class Classifier(nn.Module):
    """Normalisation then the network: takes images in [0, 1], returns logits."""

    def __init__(self, network: nn.Module, mean, std):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.normalize(x))


def build_model(meta: ModelMetadata) -> Classifier:
    arch = ARCHITECTURES[meta.architecture.name]
    network = arch(width=meta.architecture.width, num_classes=meta.num_classes, input_shape=tuple(meta.input_shape))
    return Classifier(network, meta.normalization.mean, meta.normalization.std)


def expected_state_shapes(meta: ModelMetadata) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Name -> (shape, dtype) of every tensor a weights file for `meta` must hold, built on the meta device."""
    with torch.device("meta"):
        model = build_model(meta)
    return {name: (tuple(t.shape), t.dtype) for name, t in model.state_dict().items()}
