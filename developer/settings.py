"""Settings of the developer service (`python -m developer serve`), from flags or the environment
(prefix ``UIA_DEVELOPER_``, e.g. UIA_DEVELOPER_API_TOKEN, UIA_DEVELOPER_UNLEARNING__METHOD)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from developer.config import PROFILES, REGIMES, UnlearningConfig


class DeveloperSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UIA_DEVELOPER_", env_nested_delimiter="__", extra="ignore")

    workdir: Path = Path("runs/developer")
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    api_token: SecretStr | None = Field(None, description="bearer token of the deletion-request API")

    server_url: str = Field("http://127.0.0.1:8000", description="the inference server to push versions to")
    server_token: SecretStr | None = Field(None, description="the inference server's admin token")
    deploy_original: bool = Field(True, description="push and deploy the original model when the service starts "
                                                    "with no deployment of its own yet")

    dataset: str = "cifar10-offline"
    seed: int = 0
    profile: str = Field("cpu", description=f"one of {', '.join(PROFILES)}")
    regime: str = Field("paper-code", description=f"one of {', '.join(REGIMES)}")
    train_limit: int | None = None
    test_limit: int | None = None
    pretrain_epochs: int | None = None
    width: int | None = None
    device: str = "auto"
    threads: int | None = None

    unlearning: UnlearningConfig = Field(default_factory=UnlearningConfig)
