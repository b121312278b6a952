"""The developer's stages, each cached on disk by the hash of everything it depends on.

    pretrain  : random init -> trained on D0                        (profile)
    finetune  : pretrained -> fine-tuned on F ⊆ D_u: the original θ  (regime)
    unlearn   : θ_u without the samples X, by
                exact        pretrained -> fine-tuned on F minus X (a replay of the fine-tune: same
                             starting weights, optimiser and seeded epoch orders, X skipped; or a
                             fresh order with `reseed`), or
                approximate  gradient ascent on X from the current model (METHOD.md);
                then, optionally, the fine-tuning defense on held-out public data.

A stage whose checkpoint exists is loaded, not retrained. Deletions are cumulative when a
caller passes everything forgotten so far: exact unlearning retrains without all of it.

Each stage's work returns a `StageResult`. What may leave the developer with the weights is only
the `TrainingSummary` allow-list in metadata.json; everything else the work reports (how many
ascent steps, losses on X, which method or defense ran, how long unlearning took) stays in the
private record beside it (record.json), as do the deleted ids (deletion.json).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from developer.config import CIFAR10_MEAN, CIFAR10_STD, DataConfig, Profile, Regime, UnlearningConfig
from developer.data import Splits, epoch_order, prepare_splits
from developer.training import EpochStats, evaluate, train_epochs
from developer.unlearning import gradient_ascent, heldout_public_slice
from shared.artifacts import METADATA_FILE, content_version, load_version, read_metadata, save_version, weights_to_bytes
from shared.atomic import atomic_write, write_json
from shared.classes import class_index
from shared.data import forget_count, select_forget_set, select_spread_set
from shared.digest import array_digest, text_digest
from shared.models import build_model
from shared.runtime import seed_everything
from shared.schemas import ModelMetadata, Normalization, TrainingSummary

DELETION_FILE = "deletion.json"  # private to the developer: never pushed
RECORD_FILE = "record.json"  # private to the developer: never pushed

log = logging.getLogger("developer.pipeline")


@dataclass
class StageResult:
    """What a stage's work hands to the cache: the model and what is known about its training.

    `epochs` and `samples` may be published (they describe public data or the regime); `details`
    never are: they go to the private record."""

    model: torch.nn.Module
    history: list[EpochStats]
    parent: str | None = None
    epochs: int | None = None
    samples: int | None = None
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainedVersion:
    path: Path
    meta: ModelMetadata

    @property
    def version(self) -> str:
        return self.meta.version

    def load(self) -> torch.nn.Module:
        return load_version(self.path)[0]

    def record(self) -> dict:
        """The developer's private record of how this version was trained."""
        return json.loads((self.path / RECORD_FILE).read_text())


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

    @property
    def classes(self) -> tuple[str, ...]:
        return self.splits.classes

    # ---------------------------------------------------------------- what to forget
    def class_index(self, name: str | int) -> int:
        return class_index(name, self.classes)

    def forget_set(self, targets: list[tuple[int, float]] = (), sample_ids: list[int] = ()) -> np.ndarray:
        """X within the fine-tuning set F: for each (class, p) a seeded proportion p of that class's
        samples in F; and the given sample ids of D_u that are in F. Ids outside D_u are an error."""
        parts = [np.empty(0, dtype=np.int64)]
        labels = self.splits.dataset.train_y[self.finetune_indices]
        for c, p in targets:
            parts.append(select_forget_set(self.finetune_indices, labels, c, p, self.data.seed))
        if len(sample_ids):
            ids = np.unique(np.asarray(sample_ids, dtype=np.int64))
            outside = ids[~np.isin(ids, self.splits.du)]
            if outside.size:
                raise ValueError(f"{outside.size} sample ids are not in D_u, e.g. {outside[:5].tolist()}")
            parts.append(ids[np.isin(ids, self.finetune_indices)])
        return np.unique(np.concatenate(parts))

    def spread_forget_set(self, proportion: float, draw: int) -> np.ndarray:
        """A null deletion: as many samples of F as a proportion `proportion` of a typical class
        (the median class size in F) holds, spread evenly over all classes (`draw` seeds it)."""
        labels = self.splits.dataset.train_y[self.finetune_indices]
        sizes = np.bincount(labels)
        count = forget_count(int(np.median(sizes[sizes > 0])), proportion)
        return select_spread_set(self.finetune_indices, labels, count, self.data.seed, draw)

    def export_public(self, path: Path) -> int:
        """Write D0, the public pretraining data of the threat model, as the attacker may hold it: an
        .npz of `images` (N, H, W, C) uint8, `labels` and `label_names`. Never a sample of D_u.
        Returns how many images were written."""
        ds = self.splits.dataset
        buffer = io.BytesIO()
        np.savez(buffer, images=ds.train_x[self.splits.d0], labels=ds.train_y[self.splits.d0],
                 label_names=np.array(ds.classes))
        atomic_write(Path(path), buffer.getvalue())
        return int(self.splits.d0.size)

    # ---------------------------------------------------------------- stages
    def pretrain(self) -> TrainedVersion:
        return self._cached("pretrained", _digest(self.data, self.profile), self._train_pretrained)

    def finetune(self) -> TrainedVersion:
        start = self.pretrain()
        return self._cached("original", _digest(self.data, self.profile, self.regime),
                            lambda: self._replay_finetune(start, exclude=np.empty(0, np.int64)))

    def unlearn(self, forget: np.ndarray, config: UnlearningConfig = UnlearningConfig(),
                base: TrainedVersion | None = None, new: np.ndarray | None = None) -> TrainedVersion:
        """θ_u without `forget` (all samples forgotten so far). Approximate unlearning ascends on
        `new` (the samples of this request; default `forget`) from `base` (default θ)."""
        original = self.finetune()
        base = base or original
        new = forget if new is None else new
        if config.method == "exact":
            key = _digest(self.data, self.profile, self.regime, config, _ids_digest(forget))
            work = lambda: self._exact(forget, config, parent=base)  # noqa: E731
        else:
            key = _digest(self.data, self.profile, self.regime, config, _ids_digest(new), base.version)
            work = lambda: self._approximate(new, config, base)  # noqa: E731
        version = self._cached("unlearned", key, work)
        write_json(version.path / DELETION_FILE, {
            "method": config.method, "config": config.model_dump(), "removed_total": int(forget.size),
            "removed_by_request": int(new.size), "sample_ids": forget.tolist(), "base": base.version})
        return version

    # ---------------------------------------------------------------- work
    def _train_pretrained(self) -> StageResult:
        seed_everything(self.data.seed)
        model = build_model(self._metadata("untrained", None, TrainingSummary())).to(self.device)
        prof = self.profile
        optimizer = torch.optim.SGD(model.parameters(), lr=prof.pretrain_lr, momentum=prof.momentum,
                                    weight_decay=prof.weight_decay)
        scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(prof.pretrain_epochs, 1))
                     if prof.schedule == "cosine" else None)
        orders = [epoch_order(self.splits.d0, self.data.seed, e) for e in range(prof.pretrain_epochs)]
        ds = self.splits.dataset
        history = train_epochs(model, ds.train_x, ds.train_y, orders, optimizer, self.device,
                               batch_size=prof.batch_size, scheduler=scheduler, desc="pretrain")
        return StageResult(model, history, epochs=prof.pretrain_epochs, samples=int(self.splits.d0.size))

    def _replay_finetune(self, start: TrainedVersion, exclude: np.ndarray, order_seed: int | None = None,
                         noise_sigma: float = 0.0, desc: str = "original") -> StageResult:
        """Fine-tune `start` on F minus `exclude`, visiting F in the seeded orders of the original."""
        model = start.load().to(self.device)
        reg = self.regime
        optimizer = torch.optim.SGD(model.parameters(), lr=reg.lr, momentum=reg.momentum,
                                    weight_decay=reg.weight_decay)
        seed = self.data.seed if order_seed is None else order_seed
        orders = []
        for e in range(reg.epochs):
            order = epoch_order(self.finetune_indices, seed, e)
            orders.append(order[~np.isin(order, exclude)])
        ds = self.splits.dataset
        history = train_epochs(model, ds.train_x, ds.train_y, orders, optimizer, self.device,
                               batch_size=reg.batch_size, freeze_batchnorm=reg.batchnorm == "frozen",
                               grad_noise=noise_sigma, noise_seed=seed + 0x5EED, desc=desc)
        return StageResult(model, history, parent=start.version, epochs=reg.epochs)

    def _exact(self, forget: np.ndarray, config: UnlearningConfig, parent: TrainedVersion) -> StageResult:
        order_seed = None
        if config.reseed:
            order_seed = config.order_seed if config.order_seed is not None else int.from_bytes(
                hashlib.sha256(f"{self.data.seed}:{_ids_digest(forget)}".encode()).digest()[:4], "little")
        result = self._replay_finetune(self.pretrain(), forget, order_seed, config.noise_sigma, "unlearn (exact)")
        result.parent, result.epochs = parent.version, None  # the retraining's length is the regime's
        result.details["method"] = "exact"
        return self._defend(result, config)

    def _approximate(self, new: np.ndarray, config: UnlearningConfig, base: TrainedVersion) -> StageResult:
        model = base.load()
        ds = self.splits.dataset
        info = gradient_ascent(model, ds.train_x, ds.train_y, new, self.device, lr=config.approx_lr,
                               epochs=config.approx_epochs, batch_size=config.approx_batch,
                               noise_sigma=config.noise_sigma, noise_seed=self.data.seed + 0xA5)
        return self._defend(StageResult(model, [], parent=base.version, details={"method": "approximate", **info}),
                            config)

    def _defend(self, result: StageResult, config: UnlearningConfig) -> StageResult:
        """The fine-tuning defense: train on a held-out slice of public data D0 (if configured)."""
        if config.finetune_samples == 0:
            return result
        public = heldout_public_slice(self.splits.d0, config.finetune_samples, self.data.seed)
        reg = self.regime
        optimizer = torch.optim.SGD(result.model.parameters(), lr=reg.lr, momentum=reg.momentum)
        orders = [epoch_order(public, self.data.seed + 0xDF, e) for e in range(config.finetune_epochs)]
        ds = self.splits.dataset
        result.history += train_epochs(result.model, ds.train_x, ds.train_y, orders, optimizer, self.device,
                                       batch_size=reg.batch_size, freeze_batchnorm=reg.batchnorm == "frozen",
                                       desc="defense fine-tune")
        result.details["defense_finetune"] = {"samples": config.finetune_samples, "epochs": config.finetune_epochs}
        return result

    def _cached(self, stage: str, key: str, work: Callable[[], StageResult]) -> TrainedVersion:
        path = self.workdir / "checkpoints" / f"{stage}-{key}"
        if (path / METADATA_FILE).exists():
            meta = read_metadata(path)
            log.info("%s: reusing %s (%s)", stage, meta.version, path)
            return TrainedVersion(path, meta)
        t0 = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - t0
        ds = self.splits.dataset
        accuracy = evaluate(result.model, ds.test_x, ds.test_y, self.splits.test, self.device)
        final_loss = round(result.history[-1].loss, 4) if result.history else None
        # How long unlearning took and its last loss depend on X: they stay in the private record.
        before_deletion = stage in ("pretrained", "original")
        summary = TrainingSummary(
            stage=stage, profile=self.profile.name, dataset=ds.name, seed=self.data.seed,
            regime=None if stage == "pretrained" else self.regime.name, epochs=result.epochs,
            samples=result.samples, test_accuracy=round(accuracy, 4),
            train_seconds=round(seconds, 1) if before_deletion else None,
            final_train_loss=final_loss if before_deletion else None)
        model = result.model.cpu()
        meta = self._metadata("pending", result.parent, summary)
        meta = meta.model_copy(update={"version": content_version(weights_to_bytes(model), meta)})
        save_version(path, model, meta)
        write_json(path / RECORD_FILE, {"stage": stage, "train_seconds": round(seconds, 1),
                                        "final_train_loss": final_loss, **result.details})
        log.info("%s: trained %s in %.1fs, test accuracy %.4f (%s)", stage, meta.version, seconds, accuracy, path)
        return TrainedVersion(path, meta)

    def _metadata(self, version: str, parent: str | None, training: TrainingSummary) -> ModelMetadata:
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


def _ids_digest(ids: np.ndarray) -> str:
    return array_digest(ids, np.int64)


def _digest(*parts) -> str:
    return text_digest("|".join(p.model_dump_json() if hasattr(p, "model_dump_json") else str(p) for p in parts))
