"""How a deletion request is carried out: the unlearning method and the developer-side defenses.

`UnlearningConfig` is the one declaration of these settings. The developer's defaults, its CLI
flags, its environment (UIA_DEVELOPER_UNLEARNING__<FIELD>) and the per-request overrides of the
deletion-request API (`UnlearningOptions`, every field optional) are all derived from it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.digest import model_digest
from shared.schemas.derive import overrides_of


class UnlearningConfig(BaseModel):
    """The method and the developer-side defenses (parameter obfuscation, public fine-tuning)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["exact", "approximate"] = Field(
        "exact", description="exact: retrain without X; approximate: gradient ascent on X")
    reseed: bool = Field(False, description="exact: retrain with a fresh data order instead of the original's")
    order_seed: int | None = Field(None, ge=0, description="exact with reseed: the fresh order's seed (default: "
                                                           "derived from the samples deleted)")
    approx_lr: float = Field(1e-3, gt=0, description="approximate: step size of the gradient ascent on X")
    approx_epochs: int = Field(1, ge=1, description="approximate: steps = max(1, epochs * |X| // batch)")
    approx_batch: int = Field(128, ge=1, description="approximate: batch size of the ascent")
    noise_sigma: float = Field(0.0, ge=0, description="parameter obfuscation: N(0, sigma^2) added to every "
                                                      "gradient of the unlearning steps")
    finetune_samples: int = Field(0, ge=0, description="defense: then fine-tune on this many held-out public "
                                                       "samples (0 = off)")
    finetune_epochs: int = Field(1, ge=1, description="defense: epochs of that fine-tuning")

    def with_overrides(self, overrides: BaseModel | dict | None = None) -> UnlearningConfig:
        """A validated copy with the given fields replaced; None values keep the current ones."""
        given = overrides.model_dump() if isinstance(overrides, BaseModel) else dict(overrides or {})
        given = {k: v for k, v in given.items() if v is not None}
        return type(self).model_validate({**self.model_dump(), **given})

    def digest(self) -> str:
        return model_digest(self)


UnlearningOptions = overrides_of(
    UnlearningConfig, "UnlearningOptions",
    "Per-request overrides of the developer's unlearning configuration (omitted or null: its default).")
