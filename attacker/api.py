"""The attacker as a library: the names other programs may use (`from attacker import ...`).

    from pathlib import Path
    from attacker import Campaign, InferConfig, InferenceClient, ProbeSpec
    from shared.schemas import NESParams

    with InferenceClient("http://127.0.0.1:8000") as client:
        campaign = Campaign(client, Path("runs/mine"))
        campaign.make_probes(ProbeSpec(method=NESParams(), per_class=10))
        report = campaign.infer(InferConfig(wait=True))      # once the service has unlearned
    print(report.ranking)

Everything else in the package is its inside and may change. The opt-in shadow models (torch)
are `attacker.shadow.calibrate_run`, outside this module on purpose: the default attacker never
imports torch.
"""

from attacker.analysis import raw_ranking, score_values
from attacker.calibration import ShadowConfig
from attacker.campaign import Campaign
from attacker.capabilities import CannotAttack
from attacker.client import ApiError, BudgetExhausted, InferenceClient, VersionChanged
from attacker.inference import STATISTICS, separation
from attacker.labels import LabelRule
from attacker.nulls import MIN_HISTORY
from attacker.probe_config import ProbeSpec
from attacker.public_data import load_public_images
from attacker.results import BoundaryResult, ProbingResult, SnapshotResult
from attacker.settings import InferConfig

__all__ = ["MIN_HISTORY", "STATISTICS", "ApiError", "BoundaryResult", "BudgetExhausted", "Campaign", "CannotAttack",
           "InferConfig", "InferenceClient", "LabelRule", "ProbeSpec", "ProbingResult", "ShadowConfig",
           "SnapshotResult", "VersionChanged", "load_public_images", "raw_ranking", "score_values", "separation"]
