"""What the developer's commands print on stdout: one JSON object, typed here.

`VersionResult` is the result of `pretrain`, `finetune`, `unlearn` and `push`; the demo, the
benchmarks and the tests read it with `VersionResult.model_validate_json`. `ResetResult` is
`reset`'s. Progress and logs go to stderr.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.schemas import UnlearningConfig


class VersionResult(BaseModel):
    version: str
    path: str = Field(description="the version's directory in the developer's work directory")
    test_accuracy: float | None = None
    pushed_to: str | None = Field(None, description="the server it was uploaded to (None: not pushed)")
    deployed: bool = Field(False, description="whether the server now serves it")
    removed_classes: list[str] | None = Field(None, description="unlearn: the classes named in the request")
    removed: int | None = Field(None, description="unlearn: how many training samples were removed")
    unlearning: UnlearningConfig | None = Field(None, description="unlearn: the method and defenses used")


class PublicDataResult(BaseModel):
    """`export-public`: the public data D0 written for whoever may hold it (the threat model's
    public in-domain data), never D_u."""

    path: str
    images: int
    classes: list[str]


class ResetResult(BaseModel):
    """`reset`: where the deletion history went; the service's next start deploys the original."""

    archived: str | None = Field(description="the directory the history and deployment state were moved to "
                                             "(None: there was none)")
    requests: int = Field(description="deletion requests in that history")
    deployed_version: str | None = Field(description="the version the service had deployed last")
