"""The white-box ceiling beside the black-box attacker, per regime, method and proportion: top-1
and detection AUC (against the null updates of the same size, evaluation/detector.py) of the
attacker, and of the operator's two readings of the same updates' weights (evaluation/white_box.py).
It tells how far the API-only attacker is from what the update itself reveals."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sklearn.metrics import roc_auc_score

from evaluation.detector import detection_groups
from evaluation.results import CaseResult
from evaluation.scoring import Rate


class CeilingRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regime: str
    method: str
    group: str
    positives: int
    nulls: int
    attack_top1: Rate
    bias_top1: Rate
    rows_top1: Rate
    attack_auc: float  # detection against the nulls of the same size (evaluation/detector.py)
    bias_auc: float
    rows_auc: float


def ceiling_table(results: list[CaseResult], statistic: str) -> list[CeilingRow]:
    """Per regime, method and proportion (and p ≥ 0.1 together): top-1 and detection AUC of the
    black-box attacker, and of the operator's two readings of the same updates' weights."""
    rows = []
    for regime, method, name, pos, neg in detection_groups([r for r in results if r.white_box is not None]):
        def auc(score) -> float:
            return round(float(roc_auc_score([1] * len(pos) + [0] * len(neg), [score(r) for r in pos + neg])), 4)

        rows.append(CeilingRow(
            regime=regime, method=method, group=name, positives=len(pos), nulls=len(neg),
            attack_top1=Rate.of(r.hit(statistic) for r in pos),
            bias_top1=Rate.of(r.white_box.bias.rank <= len(r.truth) for r in pos),  # top-N for N removed
            rows_top1=Rate.of(r.white_box.rows.rank <= len(r.truth) for r in pos),
            attack_auc=auc(lambda r: r.detection_score(statistic)),
            bias_auc=auc(lambda r: r.white_box.bias.detection), rows_auc=auc(lambda r: r.white_box.rows.detection)))
    return rows
