"""Shared fixtures: tiny models and metadata, a live server process on a free loopback port."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

import devtools.processes

from shared.models import build_model
from shared.schemas import ModelMetadata

ROOT = devtools.processes.ROOT
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would fill the captured output
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_meta(version: str = "tiny-1", arch: str = "small_cnn", width: int = 4, input_shape=(3, 32, 32),
              classes=None, **extra) -> ModelMetadata:
    return ModelMetadata(version=version, architecture={"name": arch, "width": width}, input_shape=input_shape,
                         classes=classes or CLASSES, normalization={"mean": [0.5] * input_shape[0],
                                                                    "std": [0.25] * input_shape[0]},
                         created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), **extra)


def make_model(meta: ModelMetadata, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(meta)
    # give BatchNorm non-trivial statistics so that a forward pass depends on them
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture
def tiny_meta() -> ModelMetadata:
    return make_meta()


class ServerProcess(devtools.processes.ServerProcess):
    """The server process with one torch thread, so its outputs match a one-thread forward here."""

    def __init__(self, store: Path, token: str = "test-admin-token", extra_env: dict | None = None):
        super().__init__(store, token, {"UIA_SERVER_TORCH_THREADS": "1", **(extra_env or {})})


@pytest.fixture
def server_process(tmp_path):
    server = ServerProcess(tmp_path / "store").start()
    yield server
    server.stop()
