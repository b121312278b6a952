"""Test accuracy of a version as the API serves it: what a defense costs in utility.

Served as uploaded (no option), the model is the developer's own, measured on the same test set
when it was trained; under a defense (pruning, rounding, ...) the worker deploys it and asks the
test images through the public API. Cached per (version, options)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from developer.pipeline import Developer, TrainedVersion
from evaluation.worker_server import WorkerServer
from shared.atomic import write_json
from shared.digest import model_digest
from shared.schemas import DeploymentOptions


def served_accuracy(server: WorkerServer, dev: Developer, version: TrainedVersion, options: DeploymentOptions,
                    cache: Path) -> float:
    if options == DeploymentOptions() and version.meta.training.test_accuracy is not None:
        return version.meta.training.test_accuracy
    path = Path(cache) / f"{version.version}-{model_digest(options)}.json"
    if path.exists():
        return json.loads(path.read_text())["accuracy"]
    server.deploy(version, options)
    ds = dev.splits.dataset
    images = np.ascontiguousarray(ds.test_x[dev.splits.test].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    with server.client() as client:
        probabilities, _ = client.predict(images)
    accuracy = float((probabilities.argmax(1) == ds.test_y[dev.splits.test]).mean())
    write_json(path, {"version": version.version, "options": options.model_dump(), "accuracy": accuracy})
    return accuracy
