"""The developer's three stages, each cached on disk by the hash of everything it depends on.

    pretrain  : random init -> trained on D0                       (profile)
    finetune  : pretrained -> fine-tuned on F, the original model θ  (regime)
    unlearn   : pretrained -> fine-tuned on F minus X, the model θ_u (exact unlearning by retraining)

Exact unlearning replays the original fine-tune: same starting weights, same optimiser, same
seeded epoch orders, with the samples of X skipped, so θ and θ_u differ only through X.
A stage whose checkpoint exists is loaded, not retrained.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from developer.config import CIFAR10_MEAN, CIFAR10_STD, DataConfig, Profile, Regime
from developer.data import Splits, epoch_order, prepare_splits
from developer.training import evaluate, train_epochs
from shared.artifacts import content_version, load_version, read_metadata, save_version, weights_to_bytes
from shared.atomic import write_json
from shared.data import select_forget_set
from shared.models import build_model
from shared.runtime import seed_everything
from shared.schemas import ModelMetadata, Normalization

DELETION_FILE = "deletion.json"  # private to the developer: never pushed


@dataclass(frozen=True)
class ForgetRequest:
    """Remove a proportion of each listed class's samples from the fine-tuning set."""

    targets: tuple[tuple[int, float], ...]  # (class index, proportion in (0, 1])

    def key(self) -> str:
        return ",".join(f"{c}:{p:g}" for c, p in sorted(self.targets))


@dataclass(frozen=True)
class TrainedVersion:
    path: Path
    meta: ModelMetadata

    @property
    def version(self) -> str:
        return self.meta.version

    def load(self) -> torch.nn.Module:
        return load_version(self.path)[0]


class Developer:
    def __init__(self, workdir: Path, data: DataConfig, profile: Profile, regime: Regime,
                 device: torch.device):
        self.workdir = Path(workdir)
        self.data = data
        self.profile = profile
        self.regime = regime
        self.device = device

    @cached_property
    def splits(self) -> Splits:
        return prepare_splits(self.data)

    @cached_property
    def finetune_indices(self) -> np.ndarray:
        return self.splits.finetune_set(self.regime)

    # ---------------------------------------------------------------- stages
    def pretrain(self) -> TrainedVersion:
        key = _digest(self.data, self.profile)
        return self._cached("pretrained", key, self._train_pretrained)

    def finetune(self) -> TrainedVersion:
        key = _digest(self.data, self.profile, self.regime)
        start = self.pretrain()
        return self._cached("original", key,
                            lambda: self._finetune(np.empty(0, dtype=np.int64), "original", start, start))

    def forget_set(self, request: ForgetRequest) -> np.ndarray:
        """X: for each (class, p), a seeded proportion p of that class's samples in F."""
        labels = self.splits.dataset.train_y[self.finetune_indices]
        parts = [select_forget_set(self.finetune_indices, labels, c, p, self.data.seed) for c, p in request.targets]
        return np.unique(np.concatenate(parts))

    def unlearn(self, request: ForgetRequest) -> TrainedVersion:
        for c, _ in request.targets:
            if not 0 <= c < len(self.splits.classes):
                raise ValueError(f"class {c} does not exist: the dataset has {len(self.splits.classes)} classes")
        key = _digest(self.data, self.profile, self.regime, "exact", request.key())
        forget = self.forget_set(request)
        start, parent = self.pretrain(), self.finetune()
        version = self._cached("unlearned", key, lambda: self._finetune(forget, "unlearned", start, parent))
        deletion = {"targets": [{"class": c, "class_name": self.splits.classes[c], "proportion": p}
                                for c, p in request.targets],
                    "method": "exact", "removed": int(forget.size), "sample_ids": forget.tolist()}
        write_json(version.path / DELETION_FILE, deletion)
        return version

    # ---------------------------------------------------------------- work
    def _train_pretrained(self) -> tuple[torch.nn.Module, dict]:
        seed_everything(self.data.seed)
        model = build_model(self._metadata("untrained", None, {})).to(self.device)
        prof = self.profile
        optimizer = torch.optim.SGD(model.parameters(), lr=prof.pretrain_lr, momentum=prof.momentum,
                                    weight_decay=prof.weight_decay)
        scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(prof.pretrain_epochs, 1))
                     if prof.schedule == "cosine" else None)
        orders = [epoch_order(self.splits.d0, self.data.seed, e) for e in range(prof.pretrain_epochs)]
        ds = self.splits.dataset
        history = train_epochs(model, ds.train_x, ds.train_y, orders, optimizer, self.device,
                               batch_size=prof.batch_size, scheduler=scheduler, desc="pretrain")
        return model, {"epochs": prof.pretrain_epochs, "samples": int(self.splits.d0.size), "history": history}

    def _finetune(self, exclude: np.ndarray, stage: str, start: TrainedVersion, parent: TrainedVersion):
        model = start.load().to(self.device)
        reg = self.regime
        optimizer = torch.optim.SGD(model.parameters(), lr=reg.lr, momentum=reg.momentum,
                                    weight_decay=reg.weight_decay)
        orders = []
        for e in range(reg.epochs):
            order = epoch_order(self.finetune_indices, self.data.seed, e)
            orders.append(order[~np.isin(order, exclude)])
        ds = self.splits.dataset
        history = train_epochs(model, ds.train_x, ds.train_y, orders, optimizer, self.device,
                               batch_size=reg.batch_size, freeze_batchnorm=reg.batchnorm == "frozen", desc=stage)
        return model, {"epochs": reg.epochs, "history": history, "parent": parent.version}

    def _cached(self, stage: str, key: str, train) -> TrainedVersion:
        path = self.workdir / "checkpoints" / f"{stage}-{key}"
        if (path / "metadata.json").exists():
            meta = read_metadata(path)
            print(f"{stage}: reusing {meta.version} ({path})")
            return TrainedVersion(path, meta)
        t0 = time.perf_counter()
        model, info = train()
        seconds = time.perf_counter() - t0
        ds = self.splits.dataset
        accuracy = evaluate(model, ds.test_x, ds.test_y, self.splits.test, self.device)
        history = info.pop("history")
        summary = {"stage": stage, "profile": self.profile.name, "dataset": ds.name, "seed": self.data.seed,
                   "test_accuracy": round(accuracy, 4), "train_seconds": round(seconds, 1),
                   "final_train_loss": round(history[-1].loss, 4) if history else None}
        if stage != "pretrained":
            summary["regime"] = self.regime.name
        parent = info.pop("parent", None)
        summary.update({k: v for k, v in info.items() if k != "samples" or stage == "pretrained"})
        model = model.cpu()
        meta = self._metadata("pending", parent, summary)
        meta = meta.model_copy(update={"version": content_version(weights_to_bytes(model), meta)})
        save_version(path, model, meta)
        print(f"{stage}: trained {meta.version} in {seconds:.1f}s, test accuracy {accuracy:.4f} ({path})")
        return TrainedVersion(path, meta)

    def _metadata(self, version: str, parent: str | None, training: dict) -> ModelMetadata:
        ds = self.splits.dataset
        channels = ds.input_shape[0]
        if ds.name in ("cifar10", "cifar10-offline"):
            norm = Normalization(mean=list(CIFAR10_MEAN), std=list(CIFAR10_STD))
        else:
            x = ds.train_x[self.splits.d0].reshape(-1, channels).astype(np.float64) / 255.0
            norm = Normalization(mean=x.mean(0).tolist(), std=np.maximum(x.std(0), 1e-3).tolist())
        return ModelMetadata(version=version, parent=parent, architecture=self.profile.architecture,
                             input_shape=ds.input_shape, classes=list(ds.classes), normalization=norm,
                             created_at=datetime.now(timezone.utc), training=training)


def _digest(*parts) -> str:
    text = "|".join(p.model_dump_json() if hasattr(p, "model_dump_json") else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
