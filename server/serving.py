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

CHUNK = 256  # images per forward pass: measured 2.3x faster than 1024 on a 2-core CPU (cache)


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
    """Owns the current `ServingModel` and the deployment record in the store.

    A deploy request without options gets the server's configured defenses (`defaults`); such a
    deployment, restored after a restart, takes the configured defenses of the new process.
    """

    def __init__(self, store: ModelStore, device: torch.device, defaults: DeploymentOptions | None = None):
        self.store = store
        self.device = device
        self.defaults = defaults or DeploymentOptions()
        self._current: ServingModel | None = None
        self._deployment: Deployment | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> ServingModel | None:
        return self._current

    @property
    def deployment(self) -> Deployment | None:
        return self._deployment

    def deploy(self, version: str, options: DeploymentOptions | None = None) -> Deployment:
        """Load, build and swap in `version`; raises KeyError if it is not stored."""
        deployment = Deployment(version=version, options=options or self.defaults,
                                options_from_settings=options is None,
                                deployed_at=datetime.now(timezone.utc).isoformat())
        with self._lock:
            serving = self._build(deployment)
            self.store.write_deployment(deployment.model_dump())
            self._current, self._deployment = serving, deployment
        return deployment

    def restore(self) -> Deployment | None:
        """Serve what the store says was deployed before a restart."""
        record = self.store.read_deployment()
        if record is None:
            return None
        saved = Deployment.model_validate(record)
        if saved.options_from_settings:
            saved = saved.model_copy(update={"options": self.defaults})
        with self._lock:
            self._current, self._deployment = self._build(saved), saved
        return saved

    def _build(self, deployment: Deployment) -> ServingModel:
        module, meta = self.store.load(deployment.version)
        return build_serving_model(module, meta, deployment.options, self.device)
