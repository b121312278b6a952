"""The label-only attack's steps: choose a run's inputs, measure a version, compare two versions.

The inputs: a pool of candidates (seeded noise, or public images with the public-data capability),
labelled once by the first version measured, of which up to `per_class` per label are kept, so
that every class the model gives some candidate is scored. The report has the shape of the
probes' (attacker/analysis.py): ranking, top-N, confidence, the other statistics beside.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from attacker.analysis import ranked_report
from attacker.capabilities import CannotAttack
from attacker.client import InferenceClient, VersionChanged
from attacker.label_only.distance import BoundaryDistance, BoundaryMeasurement
from attacker.label_only.inputs import choose_balanced, noise_inputs
from attacker.label_only.statistics import BOUNDARY_STATISTICS, STATISTIC
from attacker.labels import LabelRule
from attacker.nulls import NullModel
from attacker.label_only.store import BoundarySet, BoundarySetConfig
from attacker.public_data import load_public_images
from attacker.results import BoundaryResult
from shared.schemas import AttackReport, BoundaryParams, QueryCounts, VersionPair

# the seed's independent streams: the same seed always gives the same inputs and directions
INPUT_STREAM, DIRECTION_STREAM = 0, 1


def open_boundary_set(client: InferenceClient, run_dir: Path, given: BoundaryParams, public_data: Path | None,
                      log: Callable[[str], None]) -> BoundarySet:
    """The run's inputs and directions: saved ones (the parameters set in `given` must agree with
    them), or chosen now on the version served, from seeded noise or from public images."""
    run_dir = Path(run_dir)
    if BoundarySet.exists(run_dir):
        bset = BoundarySet.load(run_dir)
        changed = bset.config.differences(given)
        if public_data is not None and str(public_data) != bset.config.source:
            changed.append("public_data")
        if changed:
            raise ValueError(f"{run_dir} holds boundary inputs chosen with other settings ({', '.join(changed)} "
                             "differ): the versions' distances would not compare; use another run directory or "
                             "--fresh")
        return bset
    info = client.model_info()
    shape = tuple(info.input_shape)
    capabilities: list[str] = []
    if public_data is not None:
        public = load_public_images(public_data, shape, limit=given.pool, seed=given.seed)
        pool, source = public.images, public.source
        capabilities.append(public.describe())
    else:
        pool, source = noise_inputs(given.pool, shape, np.random.default_rng([given.seed, INPUT_STREAM])), "noise"
    client.pinned_version = info.version
    client.phase = "boundary inputs"
    log(f"labelling {len(pool):,} candidate inputs ({source}) on {info.version} ...")
    try:
        labels = client.predict(pool)[0].argmax(1)
    except VersionChanged as exc:
        raise ValueError(f"the server replaced version {exc.expected} by {exc.got} while the inputs were being "
                         "chosen; nothing was saved: run `boundary` again") from None
    chosen = choose_balanced(labels, given.per_class, len(info.classes))
    if len(np.unique(labels[chosen])) < 2:
        raise CannotAttack(f"the served model gives all {len(pool):,} candidate inputs ({source}) one class: no "
                           "other class to compare it with")
    counts = np.bincount(labels[chosen], minlength=len(info.classes))
    log("inputs per class: " + ", ".join(f"{name} {n}" for name, n in zip(info.classes, counts)))
    config = BoundarySetConfig(version=info.version, input_shape=shape, classes=info.classes, source=source,
                               params=given)
    directions = BoundaryDistance(given).directions_for(len(chosen), shape,
                                                        np.random.default_rng([given.seed, DIRECTION_STREAM]))
    bset = BoundarySet(run_dir, config, pool[chosen], directions, len(pool), capabilities)
    bset.save()
    return bset


def measure_served(client: InferenceClient, bset: BoundarySet, log: Callable[[str], None]) -> BoundaryResult:
    """Measure the version served on the run's inputs, unless it was measured on them already."""
    selection = client.total_queries  # nonzero only when the inputs were chosen by this client now
    version = client.model_info().version
    reused = bset.has_measurement(version)
    if reused:  # the same inputs, directions and version: measuring again would give the same numbers
        m = bset.load_measurement(version)
        log(f"version {version} was measured already on these inputs: nothing sent")
    else:
        log(f"measuring {len(bset.inputs)} inputs x {bset.config.params.directions} directions on {version} "
            f"(at most {bset.config.params.queries_per_input() * len(bset.inputs):,} queries) ...")
        version, m = bset.measure(client)
        log(f"boundary distances of {version} saved: {m.queries:,} queries, "
            f"{m.censored_fraction:.0%} of the directions censored at max_radius")
    classes = bset.config.classes
    return BoundaryResult(run=str(bset.run_dir), version=version, inputs=len(bset.inputs),
                          directions=bset.config.params.directions, source=bset.config.source,
                          labels={name: int((m.labels == c).sum()) for c, name in enumerate(classes)},
                          censored=round(m.censored_fraction, 4), queries=0 if reused else m.queries,
                          selection_queries=selection, session_queries=client.total_queries, reused=reused,
                          inputs_digest=bset.inputs_digest, directions_digest=bset.directions_digest)


def ensure_measurement(client: InferenceClient, bset: BoundarySet, version: str) -> tuple[str, BoundaryMeasurement]:
    """The measurement of `version` on the run's inputs: saved, or made now if it is served."""
    if bset.has_measurement(version):
        return version, bset.load_measurement(version)
    served = client.model_info().version
    if served != version:
        raise ValueError(f"no boundary measurement of version {version} for these inputs, and the server serves "
                         f"{served} now")
    return bset.measure(client)


def boundary_scores(bset: BoundarySet, before: BoundaryMeasurement, after: BoundaryMeasurement,
                    statistic: str) -> np.ndarray:
    """One boundary statistic's scores of the update `before` -> `after` on the run's inputs."""
    return BOUNDARY_STATISTICS[statistic](before, after, len(bset.config.classes), bset.config.params.resolution)


def analyse_boundaries(bset: BoundarySet, before: tuple[str, BoundaryMeasurement],
                       after: tuple[str, BoundaryMeasurement], top: int | None, notes: list[str],
                       null: NullModel | None, rule: LabelRule, null_scores: str = "relative") -> AttackReport:
    """The report, in the shape of the probes' (attacker/analysis.py): ranking, detection, top-N,
    confidence; against the null model when the run has one (its history of measured versions)."""
    (v_before, b), (v_after, a) = before, after
    classes, p = bset.config.classes, bset.config.params
    common = dict(
        versions=VersionPair(before=v_before, after=v_after),
        probes_per_class={name: int((b.labels == c).sum()) for c, name in enumerate(classes)},
        probe_method=p,
        # "probing" is what choosing the inputs cost: one label per candidate
        queries=QueryCounts(probing=bset.selection_queries, snapshot_before=b.queries, snapshot_after=a.queries),
        capabilities=bset.capabilities,
    )
    notes = [*notes,
             f"label-only attack: classes ranked by the change of the inputs' distances to the decision boundary along "
             f"{p.directions} random directions each ({len(bset.inputs)} inputs from {bset.config.source}; "
             f"'probes' count the inputs each class had before; 'probing' queries are the candidates labelled to "
             "choose them)",
             f"censored (no label change within max_radius {p.max_radius:g}): {b.censored_fraction:.0%} of the "
             f"directions before, {a.censored_fraction:.0%} after; inputs whose label changed: "
             f"{int((a.labels != b.labels).sum())} of {len(b.labels)}"]
    raw = {name: boundary_scores(bset, b, a, name) for name in (STATISTIC, *BOUNDARY_STATISTICS)}
    if (~np.isnan(raw[STATISTIC])).sum() < 2:
        return AttackReport(**common, notes=notes, rankable=False, statistic=STATISTIC,
                            reason="the attack cannot rank: the inputs fall into fewer than two classes")
    # classes without inputs take no part in the ranking's lead or the detection
    return ranked_report(common, notes, STATISTIC, classes, raw, null, top, rule, null_scores)
