"""The live model: an immutable `ServingModel` per deployment, swapped atomically.

A request takes the current `ServingModel` once, at its start, and uses only that object, so
it finishes on the version it started with and its response names that version. Deploying
builds the new object completely (load, prune, warm up) before one reference assignment
makes it current.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import torch

from server.defenses import forward_probabilities, harden_outputs, prune_global
from server.model_store import ModelStore
from shared.runtime import to_model_layout
from shared.schemas import Deployment, DeploymentOptions, ModelMetadata

CHUNK = 1024  # images per forward pass


@dataclass(frozen=True)
class ServingModel:
    meta: ModelMetadata
    options: DeploymentOptions
    module: torch.nn.Module
    device: torch.device

    @property
    def version(self) -> str:
        return self.meta.version

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 in [0, 1] -> (N, classes) float64 probabilities, hardened."""
        parts = []
        for lo in range(0, len(images), CHUNK):
            x = to_model_layout(torch.from_numpy(np.ascontiguousarray(images[lo:lo + CHUNK])), self.device)
            parts.append(forward_probabilities(self.module, x))
        return harden_outputs(np.concatenate(parts), self.options)


def build_serving_model(module: torch.nn.Module, meta: ModelMetadata, options: DeploymentOptions,
                        device: torch.device) -> ServingModel:
    module = prune_global(copy.deepcopy(module), options.prune_rate)
    module = module.to(device).to(memory_format=torch.channels_last).eval()
    serving = ServingModel(meta, options, module, device)
    serving.predict(np.zeros((1, *meta.input_shape), dtype=np.float32))  # warm up
    return serving


class Deployer:
    """Owns the current `ServingModel` and the deployment record in the store."""

    def __init__(self, store: ModelStore, device: torch.device):
        self.store = store
        self.device = device
        self._current: ServingModel | None = None
        self._deployment: Deployment | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> ServingModel | None:
        return self._current

    @property
    def deployment(self) -> Deployment | None:
        return self._deployment

    def deploy(self, version: str, options: DeploymentOptions) -> Deployment:
        """Load, build and swap in `version`; raises KeyError if it is not stored."""
        with self._lock:
            module, meta = self.store.load(version)
            serving = build_serving_model(module, meta, options, self.device)
            deployment = Deployment(version=version, options=options,
                                    deployed_at=datetime.now(timezone.utc).isoformat())
            self.store.write_deployment(deployment.model_dump())
            self._current, self._deployment = serving, deployment
            return deployment

    def restore(self) -> Deployment | None:
        """Serve what the store says was deployed before a restart."""
        record = self.store.read_deployment()
        if record is None:
            return None
        saved = Deployment.model_validate(record)
        with self._lock:
            module, meta = self.store.load(saved.version)
            self._current = build_serving_model(module, meta, saved.options, self.device)
            self._deployment = saved
        return saved
