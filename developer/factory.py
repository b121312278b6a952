"""Build a `Developer` from settings: the one place the CLI and the service configure it."""

from __future__ import annotations

from developer.config import PROFILES, REGIMES, DataConfig
from developer.pipeline import Developer
from developer.settings import TrainingConfig
from shared.runtime import configure_threads, select_device


def developer_from_settings(settings: TrainingConfig) -> Developer:
    """(Profile and regime names are checked by the settings model itself.)"""
    profile = PROFILES[settings.profile]
    updates = {}
    if settings.pretrain_epochs is not None:
        updates["pretrain_epochs"] = settings.pretrain_epochs
    if settings.width is not None:
        updates["architecture"] = profile.architecture.model_copy(update={"width": settings.width})
    profile = profile.model_validate({**profile.model_dump(), **updates})
    data = DataConfig(dataset=settings.dataset, seed=settings.seed, train_limit=settings.train_limit,
                      test_limit=settings.test_limit)
    configure_threads(settings.threads)
    return Developer(settings.workdir, data, profile, REGIMES[settings.regime], select_device(settings.device))
