"""How a recovery runs: one pydantic model, with the two named profiles derived from its defaults.

The defaults are METHOD.md's ("Feature recovery", after Geiping et al., "Inverting Gradients"):
Adam lr 0.04, signed gradients, total-variation weight 1e-2, the learning rate halved at 3/8, 5/8
and 7/8 of the run. Only the iteration and restart counts differ between the profiles: the paper's
10,000 iterations × 5 restarts is a GPU setting; the cpu profile runs fewer so that a laptop or a
2-core CI machine finishes in about a minute per image.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RecoveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(10_000, ge=1, description="optimisation steps per restart")
    restarts: int = Field(5, ge=1, description="independent random starts; the lowest final objective wins")
    lr: float = Field(0.04, gt=0, description="Adam step size")
    tv_weight: float = Field(1e-2, ge=0, description="α of the total-variation prior")
    signed: bool = Field(True, description="step along the sign of the image gradient (Geiping et al.)")
    lr_decay: float = Field(0.5, gt=0, le=1, description="factor applied at 3/8, 5/8 and 7/8 of the run")
    init: Literal["uniform", "gaussian"] = Field(
        "uniform", description="uniform: U[0,1]; gaussian: N(0.5, 0.25²) clipped to [0,1]")
    seed: int = Field(0, description="the restarts' random starts")
    curve_every: int = Field(10, ge=1, description="record the objective every this many iterations")

    def milestones(self) -> list[int]:
        return sorted({max(1, self.iterations * k // 8) for k in (3, 5, 7)})


PROFILES: dict[str, RecoveryConfig] = {
    "paper": RecoveryConfig(),
    "cpu": RecoveryConfig(iterations=1_500, restarts=2),
}
