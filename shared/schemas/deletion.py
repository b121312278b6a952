"""The developer's deletion-request API: what a data owner sends and what they get back."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.schemas.unlearning import UnlearningOptions


class ClassTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str | int = Field(alias="class", description="class name or index")
    proportion: float = Field(gt=0.0, le=1.0, description="fraction of the class's training samples to remove")


class DeletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_ids: list[int] | None = Field(None, description="indices of samples of D_u (train-set indices)")
    classes: list[ClassTarget] | None = Field(None, description="remove a proportion of each listed class")
    unlearning: UnlearningOptions = Field(default_factory=UnlearningOptions,  # type: ignore[valid-type]
                                          description="overrides of the developer's unlearning settings")

    @model_validator(mode="after")
    def _one_kind(self) -> DeletionRequest:
        if (self.sample_ids is None) == (self.classes is None):
            raise ValueError("give either sample_ids or classes")
        if self.sample_ids is not None and not self.sample_ids:
            raise ValueError("sample_ids is empty: name at least one sample")
        if self.classes is not None and not self.classes:
            raise ValueError("classes is empty: name at least one class")
        return self


State = Literal["queued", "unlearning", "deployed", "failed"]


class DeletionStatus(BaseModel):
    id: str
    sequence: int
    state: State
    request: DeletionRequest
    version: str | None = Field(None, description="the version deployed without the data (state deployed)")
    reason: str | None = Field(None, description="why it failed (state failed)")
    note: str | None = None
    removed: int | None = Field(None, description="training samples removed by this request")
    created_at: str
    updated_at: str
