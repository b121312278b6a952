"""The attack as a detector: did the update single out a class, and how often would an update that
singled out none look as extreme?

Every class gets a score from the two observations (attacker/inference.py; the most negative is
the class most likely removed). The detection score says how far the most extreme class stands
out, in one of two ways, and the report says which:

- without a null model, only against the other classes of the same update: the top class's
  separation, (median − score) / (1.4826 MAD) over the classes. No p-value: how far a class
  stands out on an update that targeted nothing depends on the model, the regime and the probes;
- with a null model (attacker/nulls.py), against each class's own noise. First every update's
  score vector — the one under test and each null draw — is put relative to its own classes,
  r_c = (s_c − median) / (1.4826 MAD) (`relative`), or only centred on its median class, r_c =
  s_c − median (`centred`): either way a change every class shares (the whole model growing more
  or less confident) is not a class singled out; `relative` also sets the size of the update
  aside (a big update that moved every class is not more targeted than a small one), `centred`
  keeps it (a class that moved more than any class moves in a null update stands out). Then class c is
  standardised by its null draws, z_c = (r_c − mean_c) / (sd_c √(1 + 1/K_c)) (the predictive
  spread of one more draw from K_c), its lower-tail p-value read from Student's t with K_c − 1
  degrees of freedom (the normal for resampling, whose draws are many), and the update's p-value
  is the smallest class p-value times the number of classes (Bonferroni). The detection score is
  −log10 p; the classes are ranked by z, so a class that moves on every update no longer
  outranks the one that moved only now. (Resampling asks a smaller question — does class c move
  away from the median class by more than probe noise? — so its scores are only centred on the
  median class, and its draws are the resampled updates' deviations.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from attacker.inference import rank_classes, separation
from attacker.nulls import NullModel
from shared.schemas import Detection

SD_FLOOR = 0.1  # of the median class's null SD: a class whose null barely moves is not infinitely sure
P_FLOOR = 1e-300


@dataclass(frozen=True)
class Evidence:
    scores: np.ndarray  # what the ranking uses: standardised by the null when there is one
    detection: Detection


def weigh(raw: np.ndarray, null: NullModel | None, statistic: str, scores: str = "relative") -> Evidence:
    """The evidence one statistic's scores give, against the null model if there is one;
    `scores`: how an update's scores meet the null's (relative, or centred)."""
    if null is None:
        top = rank_classes(raw)[0]
        return Evidence(raw, Detection(score=round(float(separation(raw)[top]), 4)))
    draws = null.draws(statistic)
    if null.centred:  # resampled scores less the observed: each class against the median class, in probe noise
        observed = raw - np.nanmedian(raw)
        draws = np.stack([raw + d - np.nanmedian(raw + d) for d in draws]) - observed
    else:
        transform = relative if scores == "relative" else centred
        observed = transform(raw)
        draws = np.stack([transform(d) for d in draws])
    z, dof = standardise(observed, draws, null.centred)
    p_class = np.where(np.isnan(z), np.nan, stats.t.cdf(z, np.maximum(dof, 1)))
    valid = ~np.isnan(p_class)
    if valid.sum() < 2:
        raise ValueError(f"the {null.name} null scores fewer than two classes: nothing to test against")
    p = float(min(1.0, valid.sum() * np.nanmin(p_class)))
    return Evidence(z, Detection(score=round(-np.log10(max(p, P_FLOOR)), 4), null_model=null.name,
                                 null_description=null.description, null_draws=int(np.nanmax((~np.isnan(draws)).sum(0))),
                                 p_value=p, probe_noise_only=null.probe_noise_only))


def relative(scores: np.ndarray) -> np.ndarray:
    """A score vector relative to its own classes: minus each class's separation (robust SDs)."""
    return -separation(scores) if (~np.isnan(scores)).sum() >= 2 else scores


def centred(scores: np.ndarray) -> np.ndarray:
    """A score vector less its median class: a change every class shares set aside, its size kept."""
    return scores - np.nanmedian(scores)


def standardise(raw: np.ndarray, draws: np.ndarray, centred: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per class: (score − null mean) / predictive SD, and the degrees of freedom; NaN for a class
    with fewer than two draws. Centred draws are deviations around the observed score: their
    mean is zero by construction and they are many, so the normal applies."""
    count = (~np.isnan(draws)).sum(0)
    enough = count >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.zeros(raw.shape) if centred else np.nanmean(np.where(enough, draws, 0.0), 0)
        sd = np.nanstd(np.where(enough, draws, 0.0), 0, ddof=1)
    sd[~enough] = np.nan
    # the floor's scale: the median class's null SD; where that is 0 (a statistic that counts rare
    # events, like label flips, leaves most classes' nulls flat, and a class that moved once got a
    # z of 1e300), the median of the classes that move; none moving: unit scale
    finite = sd[np.isfinite(sd)]
    moving = finite[finite > 0]
    scale = np.median(finite) if finite.size else 1.0
    if scale == 0:
        scale = np.median(moving) if moving.size else 1.0
    floor = SD_FLOOR * scale
    sd = np.maximum(np.nan_to_num(sd, nan=np.inf), max(floor, 1e-300))
    inflate = np.ones(raw.shape) if centred else np.sqrt(1 + 1 / np.maximum(count, 1))
    z = np.where(enough & ~np.isnan(raw), (raw - mean) / (sd * inflate), np.nan)
    dof = np.where(centred, 1e6, count - 1).astype(float)
    return z, dof
