"""What a model version may say about its training when it leaves the developer.

`TrainingSummary` is an allow-list: the only training facts that travel with the weights to the
server (and are stored there). Anything derived from the deleted samples X (their number, the
steps of an ascent on them, losses on them, how long unlearning took, which method or defense
ran) is not a field here, so it cannot be uploaded: the schema refuses unknown keys, on the
developer's side when the metadata is written and on the server's when it is uploaded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["untrained", "pretrained", "original", "unlearned"]


class TrainingSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage | None = None
    profile: str | None = Field(None, description="the developer's model profile (cpu, paper)")
    dataset: str | None = None
    seed: int | None = None
    regime: str | None = Field(None, description="the fine-tuning regime of the original model")
    epochs: int | None = Field(None, ge=0, description="epochs of this stage's training on public or "
                                                       "pre-deletion data (pretraining, original fine-tune)")
    samples: int | None = Field(None, ge=0, description="public pretraining samples |D0| (pretrained stage)")
    test_accuracy: float | None = Field(None, ge=0, le=1, description="top-1 accuracy on the test set")
    train_seconds: float | None = Field(None, ge=0, description="training time (pretrained and original only)")
    final_train_loss: float | None = Field(None, description="last epoch's loss (pretrained and original only)")
