"""The recovery end to end, in process: two version directories in, images and a result out.

    load both versions (versions.py) -> ∇* = θ_u − θ (difference.py) -> labels, given or read from
    the last layer (labels.py) -> invert (invert.py) -> RecoveryResult (result.py)

Used by the CLI (__main__.py), the benchmark and the tests; writes nothing (outputs.py does).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from recovery.config import RecoveryConfig
from recovery.difference import parameter_difference
from recovery.errors import RecoveryInputError
from recovery.invert import Inversion, invert
from recovery.labels import infer_labels, label_ranking, last_linear_scores
from recovery.result import LabelReport, RecoveryResult, RestartReport
from recovery.versions import load_pair
from shared.classes import class_index

MAX_IMAGES = 64


def parse_labels(text: str, classes: list[str]) -> list[int]:
    """'cat,dog' or '3,5' -> class indices; an unknown name is a RecoveryInputError."""
    try:
        return [class_index(item, classes, "label") for item in (p.strip() for p in text.split(",")) if item]
    except ValueError as exc:
        raise RecoveryInputError(str(exc)) from None


def recover(before_dir: Path, after_dir: Path, config: RecoveryConfig, *, num_images: int = 1,
            labels: list[int] | None = None, device: torch.device = torch.device("cpu"),
            desc: str = "recovery") -> tuple[Inversion, RecoveryResult]:
    if not 1 <= num_images <= MAX_IMAGES:
        raise RecoveryInputError(f"--images must be between 1 and {MAX_IMAGES}, got {num_images}")
    if labels is not None and len(labels) != num_images:
        raise RecoveryInputError(f"{len(labels)} labels given for {num_images} images")
    pair = load_pair(before_dir, after_dir)
    meta = pair.before.meta
    if labels is not None and any(not 0 <= c < meta.num_classes for c in labels):
        raise RecoveryInputError(f"labels must be class indices below {meta.num_classes}, got {labels}")
    target = parameter_difference(pair)
    scores = last_linear_scores(pair.before.model, target)
    inferred = infer_labels(scores, num_images)
    used = inferred if labels is None else list(labels)
    start = time.perf_counter()
    # the gradient is taken at θ: the point where approximate unlearning took its (first) step
    inversion = invert(pair.before.model, target.tensors, target.norm, torch.tensor(used), tuple(meta.input_shape),
                       config, device, desc=desc)
    seconds = time.perf_counter() - start
    names = meta.classes
    result = RecoveryResult(
        before=meta.version, after=pair.after.meta.version,
        architecture=f"{meta.architecture.name} (width {meta.architecture.width})",
        num_images=num_images, image_shape=tuple(meta.input_shape),
        labels=LabelReport(source="inferred" if labels is None else "given", used=used,
                           used_names=[names[c] for c in used], inferred=inferred,
                           inferred_names=[names[c] for c in inferred],
                           ranking=[names[c] for c in label_ranking(scores)], scores=scores),
        config=config, target_norm=target.norm, changed_buffers=target.changed_buffers,
        restarts=[RestartReport(restart=r, final_objective=t.final_objective, final_cosine_distance=t.final_distance)
                  for r, t in enumerate(inversion.restarts)],
        best_restart=inversion.best_restart,
        final_cosine_distance=inversion.restarts[inversion.best_restart].final_distance,
        device=str(device), seconds=round(seconds, 2))
    return inversion, result
