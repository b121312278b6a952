"""Shared fixtures: tiny models and metadata, a live server process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import torch

from shared.models import build_model
from shared.schemas import ModelMetadata

ROOT = Path(__file__).resolve().parent.parent
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m server serve` in a subprocess on a free loopback port."""

    def __init__(self, store: Path, token: str = "test-admin-token", extra_env: dict | None = None):
        self.store, self.token = store, token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "UIA_SERVER_ADMIN_TOKEN": token, "UIA_SERVER_TORCH_THREADS": "1",
                    **(extra_env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(self.port), "--store-dir", str(self.store),
             "--log-level", "warning"], cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "server exited during start-up"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)


@pytest.fixture
def server_process(tmp_path):
    server = ServerProcess(tmp_path / "store").start()
    yield server
    server.stop()
