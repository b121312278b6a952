"""The recovery's machine-readable result: one pydantic model, printed on stdout and saved as JSON.

It holds what the operator learns (labels, images on disk, how well the objective was met) and
nothing about the truth: scoring against the true images is the evaluation side's job.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from recovery.config import RecoveryConfig


class LabelReport(BaseModel):
    source: Literal["given", "inferred"] = Field(description="which labels the optimisation used")
    used: list[int]
    used_names: list[str]
    inferred: list[int] = Field(description="the labels read from the last layer of ∇*, always reported")
    inferred_names: list[str]
    ranking: list[str] = Field(description="all classes, the most likely forgotten first")
    scores: list[float] = Field(description="per class: the last layer's bias difference (negative = forgotten)")


class RestartReport(BaseModel):
    restart: int
    final_objective: float
    final_cosine_distance: float


class OutputFiles(BaseModel):
    images: str = Field(description="safetensors file with the tensor 'images', (n, C, H, W) float32 in [0, 1]")
    grid: str = Field(description="PNG grid of the recovered images")
    loss_curve: str = Field(description="PNG of the objective per restart")
    result: str = Field(description="this result as JSON")


class RecoveryResult(BaseModel):
    before: str = Field(description="version id of θ (the original)")
    after: str = Field(description="version id of θ_u (the unlearned)")
    architecture: str
    num_images: int
    image_shape: tuple[int, int, int]
    labels: LabelReport
    config: RecoveryConfig
    target_norm: float = Field(description="‖θ_u − θ‖ over the trainable parameters")
    changed_buffers: list[str] = Field(description="BatchNorm statistics that differ between the versions: "
                                                   "a sign of training-mode fine-tuning, which the "
                                                   "eval-mode gradient model does not capture")
    restarts: list[RestartReport]
    best_restart: int
    final_cosine_distance: float = Field(description="of the best restart: 0 means the gradients align exactly")
    device: str
    seconds: float
    outputs: OutputFiles | None = None
