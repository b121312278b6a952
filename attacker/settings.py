"""The attacker's settings: one declaration each, from flags or the environment.

`AttackerSettings` is what every command needs to reach the API (environment names
``UIA_ATTACKER_<FIELD>``, e.g. UIA_ATTACKER_SERVER_URL, UIA_ATTACKER_API_KEY). `ProbingConfig`
and `InferConfig` are the options of `probe` and `infer`; the probe methods' own parameters are
their models in shared/schemas/probe_methods.py, and `probe` turns its options and those into a
`ProbeSpec` (attacker/probe_config.py). The CLI's flags are generated from these models. The
attacker's environment holds nothing else: no admin token, no developer address.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from attacker.inference import STATISTICS
from attacker.labels import LabelRule
from attacker.probe_config import ProbeCount, ProbeSpec
from attacker.probe_methods import METHOD_PARAMS
from shared.schemas import ProbeMethodParams


class AttackerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UIA_ATTACKER_", extra="ignore")

    server_url: str = Field("http://127.0.0.1:8000", description="the inference server's public API")
    api_key: SecretStr | None = Field(None, description="API key, sent as X-API-Key")
    run: Path = Field(Path("runs/attacker"), description="run directory: probes, snapshots, reports")
    max_budget_wait: float = Field(0.0, ge=0, description="on 429, wait up to this many seconds as Retry-After "
                                                          "asks; longer: stop (the run resumes later)")
    shared_memory: bool = Field(False, description="send probes through Triton's system shared-memory extension "
                                                   "(same host as the server, which must allow it)")
    model_name: str = Field("classifier", description="the model's name in the /v2 routes (shared memory)")
    public_data: Path | None = Field(None, description="capability, off by default: public in-domain images the "
                                     "attacker holds (.npz or ImageFolder; docs/attack.md). Reports made with "
                                     "them say so")


class ProbingConfig(ProbeCount):
    model_config = ConfigDict(extra="forbid")

    method: Literal[tuple(METHOD_PARAMS)] = Field(  # type: ignore[valid-type]
        "zoo", description="zoo: the paper's; nes: low-resolution NES, ~100x fewer queries; natural: the "
                           "public images the model gives each class most confidently (needs --public-data)")
    classes: list[str] | None = Field(None, description="only these classes (names or indices); default all")
    restart: Literal["never", "stale", "always"] = Field(
        "never", description="never: resume the run's probes, refusing ones made on another version or with "
                             "other settings; stale: resume them if they match, else discard them (with their "
                             "snapshots and reports) and start again; always: discard them and start again "
                             "(--fresh)")

    def spec(self, method: ProbeMethodParams) -> ProbeSpec:
        """The probe set's recipe: these options with the method's parameters."""
        return ProbeSpec(method=method, per_class=self.per_class, seed=self.seed)


class InferConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before: str | None = Field(None, description="version before unlearning (default: the one probed)")
    after: str | None = Field(None, description="version after unlearning (default: the one served now)")
    wait: bool = Field(False, description="wait until the server serves a new version, then snapshot it")
    wait_timeout: float | None = Field(None, gt=0, description="give up waiting after this many seconds")
    poll: float = Field(2.0, gt=0, description="seconds between version checks while waiting")
    statistic: Literal[tuple(STATISTICS)] = Field(  # type: ignore[valid-type]
        "logodds", description="logodds (robust to saturated probes), beta (the paper's), logit, zlogit: "
                               "see docs/attack.md")
    top: int | None = Field(None, ge=1, description="how many classes to name when one stands out (default: "
                                                    "estimated)")
    null: Literal["auto", "none", "history", "shadow", "resample"] = Field(
        "auto", description="the null model each class is measured against (docs/attack.md): history (the other "
                            "updates the run observed on these probes), shadow (capability, off by default: the "
                            "run's shadow calibration, python -m attacker.shadow), resample (probe noise only), "
                            "none; auto: history when the run has observed enough other updates, else none")
    null_scores: Literal["relative", "centred"] = Field(
        "relative", description="how an update's scores meet the null's: relative (each update's scores put relative "
                                "to its own classes' spread: the size of the change set aside) or centred (on the "
                                "median class only: the size of the change kept); docs/attack.md")
    rule: LabelRule = Field(default_factory=LabelRule, description="when a class is named, and how sure (the "
                                                                   "frozen defaults: attacker/labels.py)")
