"""Shadow calibration as the default attacker reads it: plain numbers, no torch.

`python -m attacker.shadow` (the opt-in sub-package that trains models) replays a fine-tune
on the attacker's own public data with and without removing each class, and writes, for every
statistic, the scores each removal produced on the run's probes (`<run>/shadow.json`). Here they
become a per-class null: for class c, the scores c got when *another* class was removed — how
much c moves under retraining alone. A class's score on the target is then measured against its
own null, (score − mean) / standard deviation, so a class that always moves (a fragile class)
no longer outranks the one that was removed.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

SHADOW_FILE = "shadow.json"


class ShadowConfig(BaseModel):
    """How the shadow models are trained: the attacker's guess of how the service trains."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: str = Field("small_cnn", description="the shadow's architecture (its own choice)")
    width: int = Field(16, ge=1, description="the shadow network's width")
    private_fraction: float = Field(0.2, gt=0, lt=1, description="share of the public data playing the shadow's D_u")
    pretrain_epochs: int = Field(3, ge=1)
    pretrain_lr: float = Field(0.02, gt=0)
    finetune_epochs: int = Field(3, ge=1, description="the guessed fine-tuning: epochs")
    finetune_lr: float = Field(0.01, gt=0, description="the guessed fine-tuning: learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="the guessed fine-tuning: momentum")
    proportion: float = Field(0.5, gt=0, le=1, description="share of class k the shadow removes")
    seed: int = Field(0, description="splits, initialisation and data order of the shadow models")

    def describe(self) -> str:
        """The guessed recipe, named in every report that uses it: the closer the guess is to the
        service's real training, the more the attacker is assumed to know."""
        return (f"{self.architecture} width {self.width}; pretrain {self.pretrain_epochs} epochs; guessed fine-tune "
                f"{self.finetune_epochs} epochs, lr {self.finetune_lr:g}, momentum {self.momentum:g}")


class ShadowCalibration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe_digest: str = Field(description="the probe images the shadow models answered")
    classes: list[str]
    config: ShadowConfig = Field(description="how the shadow models were trained")
    public_images: int = Field(description="public images the shadow models were trained on")
    scores: dict[str, list[list[float | None]]] = Field(
        description="per statistic: row k = the scores of every class when the shadow removed class k")
    shadow_accuracy: float | None = Field(None, description="the shadow original's accuracy on held-out public data")

    def describe(self) -> str:
        removals = len(next(iter(self.scores.values()), []))
        return (f"shadow calibration: {removals} shadow removals trained on {self.public_images:,} public images "
                f"({self.config.describe()})")

    def null(self, statistic: str) -> tuple[np.ndarray, np.ndarray]:
        """Per class: mean and standard deviation of its score when another class was removed."""
        table = np.array(self.scores[statistic], dtype=float)  # (removed k, class c); None -> nan
        n = table.shape[1]
        mean, std = np.full(n, np.nan), np.full(n, np.nan)
        for c in range(n):
            others = table[[k for k in range(table.shape[0]) if k != c], c]
            others = others[~np.isnan(others)]
            if others.size >= 2:
                mean[c], std[c] = others.mean(), others.std(ddof=1)
        return mean, std

    def normalise(self, statistic: str, scores: np.ndarray) -> np.ndarray:
        if statistic not in self.scores:
            raise ValueError(f"the shadow calibration has no statistic {statistic!r} "
                             f"(it has {sorted(self.scores)})")
        mean, std = self.null(statistic)
        floor = np.nanmedian(std) * 0.1 if np.isfinite(std).any() else 1.0
        return (scores - mean) / np.maximum(np.nan_to_num(std, nan=np.inf), floor)
