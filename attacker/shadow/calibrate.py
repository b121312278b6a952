"""Learn from the attacker's own models what removing a class looks like on its probes.

    public data ─split─> S0 (the shadow's "public" part)  ──pretrain──> θ0
                         S_u (the shadow's "private" part) ──fine-tune from θ0──> θ_s
    for every class k:   S_u minus a proportion of class k ──the same fine-tune──> θ_s^k

Every statistic of attacker/inference.py is computed between θ_s and each θ_s^k on the run's
probes; row k of the result holds what every class scored when k was removed. The default
attacker turns that into a per-class null (attacker/calibration.py). Nothing here touches the
target beyond the probes the attacker already has.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from attacker.calibration import SHADOW_FILE, ShadowCalibration, ShadowConfig
from attacker.inference import STATISTICS, class_scores
from attacker.probes import ProbeSet
from attacker.public_data import PublicImages, load_public_images
from attacker.shadow.training import epoch_orders, probabilities, shadow_model, train
from attacker.snapshots import probe_digest
from shared.atomic import atomic_write
from shared.schemas import Architecture


def calibrate_run(run: Path, public_data: Path, config: ShadowConfig,
                  log: Callable[[str], None] = lambda _: None) -> ShadowCalibration:
    """The shadow calibration of the run's probes, written to <run>/shadow.json (what `infer --null
    shadow` reads)."""
    probe_set = ProbeSet.load(run)
    probes, targets = probe_set.accepted()
    public = load_public_images(public_data, tuple(probe_set.config.input_shape))
    result = calibrate(public, probes, targets, probe_set.classes, config, log)
    atomic_write(Path(run) / SHADOW_FILE, (result.model_dump_json(indent=1) + "\n").encode())
    return result


def calibrate(public: PublicImages, probes: np.ndarray, targets: np.ndarray, classes: list[str],
              config: ShadowConfig, log: Callable[[str], None] = lambda _: None) -> ShadowCalibration:
    if public.labels is None:
        raise ValueError(f"{public.source} has no labels: shadow models are trained on labelled public data")
    images, labels = public.images, public.labels
    order = np.random.default_rng([config.seed, 0x5D]).permutation(len(images))
    cut = int(round(len(images) * config.private_fraction))
    held_out = np.sort(order[:min(1000, len(images) // 10)])  # for the shadow's own accuracy only
    private, pretraining = np.sort(order[held_out.size:held_out.size + cut]), np.sort(order[held_out.size + cut:])
    start = time.perf_counter()
    model = shadow_model(Architecture(name=config.architecture, width=config.width), classes, images, config.seed)
    train(model, images, labels, epoch_orders(pretraining, config.seed, config.pretrain_epochs), config.pretrain_lr,
          0.9, weight_decay=5e-4, cosine=True)
    pretrained = copy.deepcopy(model.state_dict())
    log(f"shadow pretrained on {pretraining.size:,} public images in {time.perf_counter() - start:.0f} s")
    orders = epoch_orders(private, config.seed + 1, config.finetune_epochs)

    def finetune(removed: np.ndarray) -> torch.nn.Module:
        model.load_state_dict(pretrained)
        kept = [o[~np.isin(o, removed)] for o in orders]
        return train(model, images, labels, kept, config.finetune_lr, config.momentum)

    before = probabilities(finetune(np.empty(0, np.int64)), probes)
    accuracy = float((probabilities(model, images[held_out]).argmax(1) == labels[held_out]).mean())
    rows: dict[str, list[list[float | None]]] = {name: [] for name in STATISTICS}
    for k in range(len(classes)):
        members = private[labels[private] == k]
        removed = np.random.default_rng([config.seed, 0xF0, k]).permutation(members)[
            :max(1, int(config.proportion * members.size))]
        after = probabilities(finetune(removed), probes)
        for name in STATISTICS:
            scores = class_scores(name, before, after, targets, len(classes))
            rows[name].append([None if np.isnan(v) else float(v) for v in scores])
        log(f"shadow removal of {classes[k]} ({removed.size} samples): {time.perf_counter() - start:.0f} s")
    return ShadowCalibration(probe_digest=probe_digest(probes), classes=classes, config=config,
                             public_images=int(len(images)), scores=rows, shadow_accuracy=round(accuracy, 4))
