"""The developer's settings: one declaration each, read from flags or the environment.

Every field below is one setting with one environment name, ``UIA_DEVELOPER_<FIELD>`` (nested:
``UIA_DEVELOPER_UNLEARNING__<FIELD>``), and, in the CLI, one flag generated from it
(`shared.cli`). The groups say which commands use what:

- `TrainingConfig`: what is trained (`ModelRecipe`, the seed and the regime) and where it is kept
  (every command that trains); the evaluation harness's grids hold `ModelRecipe` as is;
- `PushTarget`: the inference server versions are pushed to (``--push``, ``push``, ``serve``);
- `ServiceConfig`: the deletion-request service (``serve``);
- `UnlearningConfig` (shared.schemas): how deletions are carried out (``unlearn``, ``serve``, and
  per request in the deletion-request API);
- `DeletionClientSettings`: the data owner's client of that service (``request``, ``status``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from developer.config import PROFILES, REGIMES
from shared.schemas import UnlearningConfig

ENV_PREFIX = "UIA_DEVELOPER_"


class ModelRecipe(BaseModel):
    """What is trained, but for the seed and the fine-tuning regime: the data, the network, its
    pretraining."""

    dataset: str = Field("cifar10-offline", description="cifar10-offline (bundled), cifar10, cifar100, mnist, "
                         "fashion-mnist, stl10, or an ImageFolder directory with train/ and test/")
    profile: Literal[tuple(PROFILES)] = Field(  # type: ignore[valid-type]
        "cpu", description="cpu: small CNN; paper: ConvNet width 64, the report's 120 epochs (for GPUs)")
    pretrain_epochs: int | None = Field(None, ge=0, description="override the profile's pretraining epochs")
    width: int | None = Field(None, ge=1, description="override the profile's network width")
    train_limit: int | None = Field(None, ge=10, description="use a seeded subset of this many train images")
    test_limit: int | None = Field(None, ge=10, description="evaluate on a seeded subset of this many test images")


class TrainingConfig(ModelRecipe):
    workdir: Path = Field(Path("runs/developer"), description="checkpoints and the service's state")
    seed: int = Field(0, description="splits, data order and initialisation")
    regime: Literal[tuple(REGIMES)] = Field(  # type: ignore[valid-type]
        "paper-code", description="how the original model is fine-tuned on D_u (docs/developer.md)")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, ...")
    threads: int | None = Field(None, ge=1, description="torch intra-op threads")


class PushTarget(BaseModel):
    server_url: str = Field("http://127.0.0.1:8000", description="the inference server to push versions to")
    server_token: SecretStr | None = Field(None, description="the inference server's admin token")


class ServiceConfig(BaseModel):
    host: str = Field("127.0.0.1", description="interface of the deletion-request service")
    port: int = Field(8100, ge=0, le=65535, description="port of the deletion-request service")
    api_token: SecretStr | None = Field(None, description="bearer token of the deletion-request API")
    deploy_original: bool = Field(True, description="push and deploy the original model when the service starts "
                                                    "with no deployment of its own yet")


class DeveloperSettings(TrainingConfig, PushTarget, ServiceConfig, BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore")

    unlearning: UnlearningConfig = Field(default_factory=UnlearningConfig)


class DeletionClientSettings(BaseSettings):
    """The data owner's side: where the deletion-request service is and its token."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    url: str = Field("http://127.0.0.1:8100", description="the developer's deletion-request service")
    api_token: SecretStr | None = Field(None, description="its bearer token")
