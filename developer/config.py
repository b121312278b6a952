"""What the developer trains: data, profile (model + pretraining) and fine-tuning regime.

The profile says which network and how it is pretrained on D0. The regime says how the
original model is fine-tuned on D_u, and therefore also how exact unlearning retrains it on
D_u minus X. METHOD.md ("Measured here") shows the regime decides whether the label inference
attack works, so it is a named setting of its own:

- ``paper-code``: 512 samples of D_u, 1 epoch, SGD lr 1e-3, batch 128 (4 steps), BatchNorm
  frozen: the regime of the paper authors' label-inference code (their fine-tuning runs the
  model in eval mode). The attack is known to work here.
- ``report``: all of D_u, 20 epochs, SGD lr 1e-3, momentum 0.9, BatchNorm training: the seed
  report's schedule.
- ``long``: all of D_u, 3 epochs, SGD lr 0.01, momentum 0.9: the hard regime measured in
  METHOD.md, where the plain attack falls to chance.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.digest import Frozen
from shared.schemas import Architecture, UnlearningConfig

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "PROFILES", "REGIMES", "DataConfig", "Profile", "Regime",
           "UnlearningConfig"]

CIFAR10_MEAN = (0.4914672374725342, 0.4822617471218109, 0.4467701315879822)
CIFAR10_STD = (0.24703224003314972, 0.24348513782024384, 0.26158785820007324)


class DataConfig(Frozen):
    dataset: str = "cifar10-offline"
    seed: int = 0
    public_fraction: float = Field(0.8, gt=0, lt=1)
    train_limit: int | None = Field(None, ge=10, description="use a seeded subset of this many train images")
    test_limit: int | None = Field(None, ge=10, description="evaluate on a seeded subset of this many test images")


class Profile(Frozen):
    name: str
    architecture: Architecture
    pretrain_epochs: int = Field(ge=0)
    pretrain_lr: float = Field(gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    batch_size: int = Field(128, ge=1)
    schedule: Literal["cosine", "constant"] = "cosine"


class Regime(Frozen):
    name: str
    samples: int | None = Field(description="size of the fine-tuning set drawn from D_u; None = all of D_u")
    epochs: int = Field(ge=1)
    lr: float = Field(gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(128, ge=1)
    batchnorm: Literal["frozen", "train"] = Field(
        "train", description="frozen: BatchNorm layers stay in eval mode (running statistics fixed), as the "
                             "paper's fine-tuning code does (model.eval() during fine-tuning)")


PROFILES: dict[str, Profile] = {
    "cpu": Profile(name="cpu", architecture=Architecture(name="small_cnn", width=16), pretrain_epochs=3,
                   pretrain_lr=0.02),
    "paper": Profile(name="paper", architecture=Architecture(name="convnet", width=64), pretrain_epochs=120,
                     pretrain_lr=0.01, schedule="constant"),
}

REGIMES: dict[str, Regime] = {
    "paper-code": Regime(name="paper-code", samples=512, epochs=1, lr=1e-3, batchnorm="frozen"),
    "report": Regime(name="report", samples=None, epochs=20, lr=1e-3, momentum=0.9),
    "long": Regime(name="long", samples=None, epochs=3, lr=0.01, momentum=0.9),
}
