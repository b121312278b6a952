"""When a report names a class, and how sure it says it is: `high`, `medium`, `low`, or `none`
("no class stands out": the report still ranks, but names nothing).

The label is read from the evidence the run has (attacker/detection.py):
- with a null model, from the update's p-value: `high` at p <= `high_p`, `medium` at p <=
  `medium_p`, `low` at p <= `name_p`, else `none`;
- without one, from how far the top class stands out from the other classes of the same update
  (its separation, and its lead over the runner-up, in robust SDs). Without a null model nothing
  says how far a class stands out on an update that targeted none, so `high` is said there only
  if `high_separation` is set, which a rule frozen from data sets only when it met the precision
  goal on null and positive updates it was not fitted on (docs/attack.md).

The defaults are the strictest of the rules the evaluation froze before its scored runs
(evaluation/protocols/: `cpu` in the paper-code regime, `long` and `long-public` under realistic
fine-tuning), so a report of the CLI never claims more than a calibrated rule would; a test keeps
it so.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attacker.inference import rank_classes, separation
from shared.schemas import Confidence, Detection


class LabelRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    high_p: float = Field(1.8e-5, gt=0, le=1, description="with a null model: `high` at an update p-value <= this")
    medium_p: float = Field(4.48e-3, gt=0, le=1, description="with a null model: `medium` at p <= this")
    name_p: float = Field(1.43e-2, gt=0, le=1, description="with a null model: a class is named at p <= this; "
                                                           "above, no class stands out")
    high_separation: float | None = Field(None, gt=0, description="without a null model: `high` at a top separation "
                                                                  ">= this (and the lead below); None: never")
    high_lead: float = Field(2.0, ge=0, description="without a null model: the lead `high` needs")
    medium_separation: float = Field(3.5, ge=0, description="without a null model: `medium` at a top separation "
                                                            ">= this and a lead >= medium_lead")
    medium_lead: float = Field(1.0, ge=0)
    name_separation: float = Field(2.0, ge=0, description="without a null model: a class is named at a top "
                                                          "separation >= this; below, no class stands out")

    def label(self, scores: np.ndarray, detection: Detection) -> Confidence:
        """The confidence of a ranking by `scores` (standardised by the null when there is one)."""
        valid = scores[~np.isnan(scores)]
        ranking = rank_classes(valid)
        sep = separation(valid)
        lead = float(sep[ranking[0]] - sep[ranking[1]])
        top = float(sep[ranking[0]])
        if detection.p_value is not None:
            p = detection.p_value
            label = "high" if p <= self.high_p else "medium" if p <= self.medium_p else \
                "low" if p <= self.name_p else "none"
        else:
            high = self.high_separation is not None and top >= self.high_separation and lead >= self.high_lead
            label = "high" if high else "medium" if top >= self.medium_separation and lead >= self.medium_lead else \
                "low" if top >= self.name_separation else "none"
        return Confidence(lead=round(lead, 3), top_separation=round(top, 3), label=label)
