"""Where the truth ranks among one reading's per-class scores (the most negative first): the one
rule every reading of a case is scored by, the attacker's statistics and the operator's
white-box alike. Ties count against the reading (a removed class shares its rank with every class
scoring as low or lower; an unscored class should be given +inf, so it ranks last); with several
classes removed, the lowest-ranked of them counts (top-N); a null update has no truth to rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rank_of_truth(scores: np.ndarray, classes: Sequence[str], truth: Sequence[str]) -> int | None:
    if not truth:
        return None
    return max(int((scores <= scores[list(classes).index(t)]).sum()) for t in truth)
