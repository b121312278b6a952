"""The label-only attack: how far each input lies from its class's boundary, before and after.

When the server answers with labels only (one-hot), no probability can be optimised or compared.
What labels still show is *where the decision changes*. For each input x and each of K random
unit directions u (L2 norm 1 in pixel space), `BoundaryDistance` measures the smallest step t in
[0, max_radius] at which the label of clip(x + t u, 0, 1) differs from the label of x, by binary
search on labels alone (the label-only membership-inference measurement of Choquette-Choo et al.,
with random directions). Unlearning class c shrinks c's region, so the inputs labelled c come
closer to its boundary: the class whose inputs' log distances fall most is ranked first.

The invariant: a comparison of two versions uses the same inputs and the same directions, drawn
from one seed and saved with the run (boundary.json, boundary-inputs.npz), so a change of distance
is a change of the model, never of the measurement. Each measurement is one version's
(`boundaries/<version>.npz`, the client pinned to it).

The inputs: a pool of candidates (seeded noise, half uniform and half low-frequency; or public
images with the public-data capability), labelled once by the first version measured, of which up
to `per_class` per label are kept, so that every class the model gives some candidate is scored.

Cost, in images sent: the pool (once per run), then per measurement N (the inputs' labels), N K
(the far end of every segment: does the label change at all within max_radius?) and one image per
bisection step for each segment whose label changes: at most N (1 + K (1 + steps)), 89 per input
with the defaults. A segment whose label does not change within max_radius is censored at
max_radius (not bisected; the report says how many were).

    <run>/boundary.json               the measurement's parameters, the inputs' source, the classes
    <run>/boundary-inputs.npz         inputs (N, C, H, W) and directions (N, K, C, H, W), float32
    <run>/boundaries/<version>.npz    labels (N,), distances (N, K), entered (N, K), censored (N, K)
    <run>/boundaries/<version>.json   version, queries, digests of the inputs and the directions, time
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from attacker.analysis import by_class, ranked_report
from attacker.capabilities import CannotAttack
from attacker.client import InferenceClient, VersionChanged
from attacker.inference import confidence, per_class
from attacker.probes import PROBING_FILE
from attacker.public_data import load_public_images
from attacker.results import BoundaryResult
from attacker.settings import InferConfig
from shared.atomic import atomic_write, write_json
from shared.schemas import AttackReport, QueryCounts, VersionPair

LabelsOf = Callable[[np.ndarray], np.ndarray]  # (M, C, H, W) in [0, 1] -> (M,) labels

BOUNDARY_FILE = "boundary.json"
INPUTS_FILE = "boundary-inputs.npz"
MEASUREMENTS_DIR = "boundaries"
STATISTIC = "boundary"
LOW_FREQUENCY = 8  # the grid of the low-frequency noise inputs (8 x 8, upsampled bilinearly)

# the seed's independent streams: the same seed always gives the same inputs and directions
INPUT_STREAM, DIRECTION_STREAM = 0, 1


class BoundaryParams(BaseModel):
    """The measurement's parameters (in the manner of IBM ART's attacks: declared, validated on
    construction, the CLI's flags derived from them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    directions: int = Field(8, ge=1, description="random unit directions per input")
    max_radius: float = Field(16.0, gt=0, description="longest step searched along a direction (L2 norm, pixels "
                                                      "in [0, 1]); a direction whose label does not change within "
                                                      "it is censored at this value")
    steps: int = Field(10, ge=1, description="binary-search steps per direction: resolution "
                                             "max_radius / 2^(steps + 1)")
    seed: int = Field(0, description="the inputs and the directions come from generators seeded (seed, stream)")

    @property
    def resolution(self) -> float:
        """Half the final bracket: the error of a measured distance, and the smallest one reported."""
        return self.max_radius / 2 ** (self.steps + 1)

    def queries_per_input(self) -> int:
        """The most images one input can cost (every direction's label changes within max_radius)."""
        return 1 + self.directions * (1 + self.steps)


class BoundaryInputsConfig(BaseModel):
    """How a run's inputs are chosen (on its first measurement, then kept): a pool of candidates,
    labelled by the served version once each, of which up to `per_class` per label are measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pool: int = Field(1000, ge=2, description="candidate inputs, one query each: seeded noise (half uniform, half "
                                              "low-frequency), or a seeded subset of this many public images "
                                              "with --public-data")
    per_class: int = Field(20, ge=1, description="inputs measured per class (as the served version labels the "
                                                 "candidates; a class given fewer gets fewer)")


@dataclass
class BoundaryMeasurement:
    labels: np.ndarray  # (N,) the label of each input (t = 0)
    distances: np.ndarray  # (N, K) midpoint of the final bracket; max_radius where censored
    entered: np.ndarray  # (N, K) the label on the far side of the boundary; -1 where censored
    censored: np.ndarray  # (N, K) bool: no label change within max_radius
    queries: int  # images sent

    @property
    def censored_fraction(self) -> float:
        return float(self.censored.mean()) if self.censored.size else 0.0


class BoundaryDistance:
    """Distances to the decision boundary along fixed random directions, from labels only."""

    name = STATISTIC
    Params = BoundaryParams

    def __init__(self, params: BoundaryParams | None = None, **overrides):
        if params is not None and overrides:
            raise TypeError("give either a Params model or keyword parameters, not both")
        self.params = params if params is not None else BoundaryParams(**overrides)

    def describe(self) -> dict:
        return {"method": self.name, **self.params.model_dump()}

    def directions_for(self, count: int, input_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """(count, K, *input_shape) float32 directions, each of L2 norm 1: isotropic Gaussian,
        normalised, so no direction in pixel space is favoured."""
        u = rng.standard_normal((count, self.params.directions, *input_shape)).astype(np.float32)
        norms = np.sqrt((u.reshape(count, self.params.directions, -1).astype(np.float64) ** 2).sum(-1))
        return (u / norms.reshape(count, self.params.directions, *([1] * len(input_shape)))).astype(np.float32)

    def generate(self, labels_of: LabelsOf, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N, K) distances along K directions drawn from `rng`; `measure` with saved directions
        is the same measurement when the directions must be reused (before and after)."""
        directions = self.directions_for(len(images), tuple(images.shape[1:]), rng)
        return self.measure(labels_of, images, directions).distances

    def measure(self, labels_of: LabelsOf, images: np.ndarray, directions: np.ndarray) -> BoundaryMeasurement:
        p = self.params
        x = np.asarray(images, dtype=np.float32)
        n, k = len(x), p.directions
        if directions.shape != (n, k, *x.shape[1:]):
            raise ValueError(f"directions of shape {directions.shape} do not fit {n} inputs x {k} directions of "
                             f"shape {x.shape[1:]}")
        if x.min(initial=0.0) < 0 or x.max(initial=0.0) > 1:
            raise ValueError("inputs must lie in [0, 1]")
        queries = 0

        def ask(batch: np.ndarray) -> np.ndarray:
            nonlocal queries
            queries += len(batch)
            return np.asarray(labels_of(batch)).astype(np.int64).reshape(len(batch))

        def along(pairs: np.ndarray, t: np.ndarray) -> np.ndarray:
            # clipped, because the server rejects pixels outside [0, 1]; past a face of the cube the
            # point slides along it, which both versions see alike (same inputs, same directions)
            i, j = np.divmod(pairs, k)
            step = t.astype(np.float32).reshape(-1, *([1] * (x.ndim - 1)))
            return np.clip(x[i] + step * directions[i, j], 0.0, 1.0)

        labels = ask(x)
        pairs = np.arange(n * k)
        own = np.repeat(labels, k)
        # one batch for the far ends: a segment whose label never changes is not worth bisecting
        far = ask(along(pairs, np.full(n * k, p.max_radius)))
        changes = far != own
        lo, hi = np.zeros(n * k), np.full(n * k, p.max_radius)
        entered = np.where(changes, far, -1)
        active = pairs[changes]
        for _ in range(p.steps):  # all active segments of one bisection step in one batch
            if len(active) == 0:
                break
            mid = (lo[active] + hi[active]) / 2
            got = ask(along(active, mid))
            flipped = got != own[active]
            hi[active[flipped]] = mid[flipped]
            entered[active[flipped]] = got[flipped]
            lo[active[~flipped]] = mid[~flipped]
        # the midpoint of the final bracket: within resolution of a crossing (the first one when
        # the label changes once along the segment; bisection cannot see a change and a change back)
        distances = np.where(changes, (lo + hi) / 2, p.max_radius)
        return BoundaryMeasurement(labels, distances.reshape(n, k), entered.reshape(n, k),
                                   ~changes.reshape(n, k), queries)


def upsample(low: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of (..., h, w) to (..., height, width), as two interpolation matrices."""
    def weights(n_out: int, n_in: int) -> np.ndarray:
        pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5  # pixel centres, aligned as PIL does
        pos = np.clip(pos, 0, n_in - 1)
        left = np.minimum(np.floor(pos).astype(int), n_in - 2) if n_in > 1 else np.zeros(n_out, int)
        frac = pos - left
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), left] += 1 - frac
        if n_in > 1:
            m[np.arange(n_out), left + 1] += frac
        return m
    return np.einsum("hi,...ij,wj->...hw", weights(height, low.shape[-2]), low, weights(width, low.shape[-1]))


def noise_inputs(count: int, input_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Inputs for an attacker with no data: half uniform noise, half low-frequency noise (uniform
    on an 8 x 8 grid, upsampled), which a CNN sees as smoother, more image-like regions and labels
    more diversely than white noise."""
    c, h, w = input_shape
    uniform = rng.random((count - count // 2, c, h, w))
    smooth = upsample(rng.random((count // 2, c, min(LOW_FREQUENCY, h), min(LOW_FREQUENCY, w))), h, w)
    return np.clip(np.concatenate([uniform, smooth]), 0, 1).astype(np.float32)


# ---------------------------------------------------------------- statistics
# Each scores every class; the most negative score ranks first (as attacker/inference.py's do).
def _log_distances(m: BoundaryMeasurement, resolution: float) -> np.ndarray:
    # the resolution floors a log that a zero distance would send to -inf
    return np.log(np.maximum(m.distances, resolution))


def input_changes(before: BoundaryMeasurement, after: BoundaryMeasurement, resolution: float) -> np.ndarray:
    """(N,) the change of each input's mean log distance to the boundary of its class at the version
    before. An input the version after labels otherwise is at distance zero from that class's
    region (floored at the resolution), whatever its distance to its new class's boundary."""
    change = _log_distances(after, resolution).mean(1) - _log_distances(before, resolution).mean(1)
    left = after.labels != before.labels
    change[left] = np.log(resolution) - _log_distances(before, resolution)[left].mean(1)
    return change


def boundary(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """Score of class c: the mean change over the inputs labelled c before. Unlearning c shrinks
    c's region: its inputs come closer to its boundary, or leave it."""
    return per_class(input_changes(before, after, resolution), before.labels, num_classes, np.mean)


def boundary_median(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """The median instead of the mean: a few inputs that leave c (floored) do not decide it."""
    return per_class(input_changes(before, after, resolution), before.labels, num_classes, np.median)


def boundary_t(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """The mean divided by its standard error over c's inputs: a class whose inputs disagree (a
    fragile class where a few flip) no longer outranks one whose inputs all move."""
    def t(values: np.ndarray) -> float:
        if len(values) < 2:
            return np.nan
        return values.mean() / max(values.std(ddof=1) / np.sqrt(len(values)), 1e-12)
    return per_class(input_changes(before, after, resolution), before.labels, num_classes, t)


def boundary_entry(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """The other side, from all inputs: minus the mean change of log distance over the segments
    that entered c before (from inputs of other classes, labelled alike by both versions): c's
    region receding pushes its boundary away from them."""
    same = np.repeat(after.labels == before.labels, before.distances.shape[1])
    change = (_log_distances(after, resolution) - _log_distances(before, resolution)).ravel()
    return -per_class(change[same], before.entered.ravel()[same], num_classes, np.mean)


def label_flip(before, after, num_classes: int, resolution: float) -> np.ndarray:
    """Minus the fraction of the inputs labelled c before that the version after labels otherwise
    (from the t = 0 answers alone)."""
    return -per_class((after.labels != before.labels).astype(float), before.labels, num_classes, np.mean)


BOUNDARY_STATISTICS = {"boundary": boundary, "boundary_median": boundary_median, "boundary_t": boundary_t,
                       "boundary_entry": boundary_entry, "label_flip": label_flip}


# ---------------------------------------------------------------- the run's inputs and measurements
class BoundarySetConfig(BaseModel):
    """The identity of a run's label-only inputs (boundary.json): measurements compare only when it
    is the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(description="the version whose labels chose the inputs (the first measured)")
    input_shape: tuple[int, int, int]
    classes: list[str]
    source: str = Field(description="'noise', or the public data the inputs were drawn from")
    pool: int = Field(description="candidates asked for (a smaller public set gives fewer: selection_queries)")
    per_class: int
    params: BoundaryParams

    def differences(self, given: dict[str, Any]) -> list[str]:
        mine = {"pool": self.pool, "per_class": self.per_class, **self.params.model_dump()}
        return sorted(k for k, v in given.items() if k in mine and mine[k] != v)


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()[:16]


def choose_balanced(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Pool indices: for each class, the first `per_class` pool inputs the model gives it (a class
    it gives fewer gets fewer). Balanced, because noise falls mostly into two or three classes and
    a class's score is a mean over its own inputs."""
    chosen = [np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)]
    return np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)


@dataclass
class BoundarySet:
    run_dir: Path
    config: BoundarySetConfig
    inputs: np.ndarray  # (N, C, H, W) float32
    directions: np.ndarray  # (N, K, C, H, W) float32, unit L2 norm
    selection_queries: int  # images sent to label the pool the inputs were chosen from
    capabilities: list[str]  # what choosing them took beyond the API (public data)

    @property
    def inputs_digest(self) -> str:
        return digest(self.inputs)

    @property
    def directions_digest(self) -> str:
        return digest(self.directions)

    @property
    def measurer(self) -> BoundaryDistance:
        return BoundaryDistance(self.config.params)

    @classmethod
    def load(cls, run_dir: Path) -> BoundarySet:
        run_dir = Path(run_dir)
        saved = json.loads((run_dir / BOUNDARY_FILE).read_text())
        with np.load(run_dir / INPUTS_FILE) as z:
            bset = cls(run_dir, BoundarySetConfig.model_validate(saved["config"]), z["inputs"], z["directions"],
                       int(saved["selection_queries"]), list(saved.get("capabilities", [])))
        if bset.directions_digest != saved["directions_digest"] or bset.inputs_digest != saved["inputs_digest"]:
            raise ValueError(f"{run_dir / INPUTS_FILE} does not match {run_dir / BOUNDARY_FILE}: start again with "
                             "--fresh")
        return bset

    def save(self) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, inputs=self.inputs, directions=self.directions)
        atomic_write(self.run_dir / INPUTS_FILE, buffer.getvalue())
        write_json(self.run_dir / BOUNDARY_FILE, {
            "config": self.config.model_dump(mode="json"), "selection_queries": self.selection_queries,
            "capabilities": self.capabilities, "inputs": len(self.inputs), "inputs_digest": self.inputs_digest,
            "directions_digest": self.directions_digest})

    # ------------------------------------------------------------- measurements
    def _paths(self, version: str) -> tuple[Path, Path]:
        base = self.run_dir / MEASUREMENTS_DIR
        return base / f"{version}.npz", base / f"{version}.json"

    def has_measurement(self, version: str) -> bool:
        npz, meta = self._paths(version)
        if not (npz.exists() and meta.exists()):
            return False
        info = json.loads(meta.read_text())  # measured on these very inputs and directions?
        return info.get("inputs_digest") == self.inputs_digest and \
            info.get("directions_digest") == self.directions_digest

    def load_measurement(self, version: str) -> BoundaryMeasurement:
        if not self.has_measurement(version):
            raise FileNotFoundError(f"no boundary measurement of version {version} for these inputs in {self.run_dir}")
        npz, meta = self._paths(version)
        with np.load(npz) as z:
            return BoundaryMeasurement(z["labels"], z["distances"], z["entered"], z["censored"],
                                       int(json.loads(meta.read_text())["queries"]))

    def measure(self, client: InferenceClient) -> tuple[str, BoundaryMeasurement]:
        """Measure the version now served (all of it on that one version) and save it."""
        client.pinned_version = None
        version = client.model_info().version
        client.pinned_version = version
        client.phase = f"boundary {version}"
        try:
            m = self.measurer.measure(lambda batch: client.predict(batch)[0].argmax(1), self.inputs, self.directions)
        except VersionChanged as exc:  # half a measurement of each of two versions compares with nothing
            raise ValueError(f"the server replaced version {exc.expected} by {exc.got} during the boundary "
                             "measurement; nothing of it was saved. The run's inputs are kept: run `boundary` "
                             "again to measure the version served now") from None
        npz, meta = self._paths(version)
        buffer = io.BytesIO()
        np.savez(buffer, labels=m.labels, distances=m.distances, entered=m.entered, censored=m.censored)
        atomic_write(npz, buffer.getvalue())
        write_json(meta, {"version": version, "queries": m.queries, "inputs": len(self.inputs),
                          "directions": self.config.params.directions, "inputs_digest": self.inputs_digest,
                          "directions_digest": self.directions_digest, "censored": round(m.censored_fraction, 4),
                          "taken_at": datetime.now(timezone.utc).isoformat()})
        return version, m


def remove_boundary_set(run_dir: Path) -> None:
    """--fresh: new inputs make the old measurements (and a report made from them) meaningless."""
    run_dir = Path(run_dir)
    for name in (BOUNDARY_FILE, INPUTS_FILE):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / MEASUREMENTS_DIR, ignore_errors=True)
    report = run_dir / "report.json"
    if report.exists() and json.loads(report.read_text()).get("statistic") in BOUNDARY_STATISTICS:
        for name in ("report.json", "report.md", "report-chart.png"):
            (run_dir / name).unlink(missing_ok=True)


def open_boundary_set(client: InferenceClient, run_dir: Path, given: dict[str, Any],
                      public_data: Path | None, log: Callable[[str], None]) -> BoundarySet:
    """The run's inputs and directions: saved ones (the flags given must agree with them), or
    chosen now on the version served, from seeded noise or from public images."""
    run_dir = Path(run_dir)
    if (run_dir / BOUNDARY_FILE).exists():
        bset = BoundarySet.load(run_dir)
        changed = bset.config.differences(given)
        if public_data is not None and str(public_data) != bset.config.source:
            changed.append("public_data")
        if changed:
            raise ValueError(f"{run_dir} holds boundary inputs chosen with other settings ({', '.join(changed)} "
                             "differ): the versions' distances would not compare; use another run directory or "
                             "--fresh")
        return bset
    choice = BoundaryInputsConfig(**{k: v for k, v in given.items() if k in BoundaryInputsConfig.model_fields})
    params = BoundaryParams(**{k: v for k, v in given.items() if k in BoundaryParams.model_fields})
    info = client.model_info()
    shape = tuple(info.input_shape)
    capabilities: list[str] = []
    if public_data is not None:
        public = load_public_images(public_data, shape, limit=choice.pool, seed=params.seed)
        pool, source = public.images, public.source
        capabilities.append(public.describe())
    else:
        pool, source = noise_inputs(choice.pool, shape, np.random.default_rng([params.seed, INPUT_STREAM])), "noise"
    client.pinned_version = info.version
    client.phase = "boundary inputs"
    log(f"labelling {len(pool):,} candidate inputs ({source}) on {info.version} ...")
    try:
        labels = client.predict(pool)[0].argmax(1)
    except VersionChanged as exc:
        raise ValueError(f"the server replaced version {exc.expected} by {exc.got} while the inputs were being "
                         "chosen; nothing was saved: run `boundary` again") from None
    chosen = choose_balanced(labels, choice.per_class, len(info.classes))
    if len(np.unique(labels[chosen])) < 2:
        raise CannotAttack(f"the served model gives all {len(pool):,} candidate inputs ({source}) one class: no "
                           "other class to compare it with")
    counts = np.bincount(labels[chosen], minlength=len(info.classes))
    log("inputs per class: " + ", ".join(f"{name} {n}" for name, n in zip(info.classes, counts)))
    config = BoundarySetConfig(version=info.version, input_shape=shape, classes=info.classes, source=source,
                               pool=choice.pool, per_class=choice.per_class, params=params)
    directions = BoundaryDistance(params).directions_for(len(chosen), shape,
                                                         np.random.default_rng([params.seed, DIRECTION_STREAM]))
    bset = BoundarySet(run_dir, config, pool[chosen], directions, len(pool), capabilities)
    bset.save()
    return bset


def run_boundary(client: InferenceClient, run_dir: Path, given: dict[str, Any], public_data: Path | None,
                 fresh: bool, log: Callable[[str], None]) -> BoundaryResult:
    """`boundary`: choose the run's inputs if it has none yet, then measure the version served."""
    if fresh:
        remove_boundary_set(run_dir)
    bset = open_boundary_set(client, run_dir, given, public_data, log)
    selection = client.total_queries  # nonzero only when the inputs were chosen now
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
    return BoundaryResult(run=str(run_dir), version=version, inputs=len(bset.inputs),
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


def infer_boundaries(client: InferenceClient, run_dir: Path, config: InferConfig, ignored: list[str],
                     log: Callable[[str], None]) -> AttackReport:
    """`infer` on a label-only run: the two versions' measurements, the version after taken as
    `infer` takes snapshots (--after, or the one served now, after --wait)."""
    bset = BoundarySet.load(run_dir)
    before = ensure_measurement(client, bset, config.before or bset.config.version)
    if config.after:
        after = ensure_measurement(client, bset, config.after)
    else:
        if config.wait:
            log(f"waiting for the server to replace version {before[0]} ...")
            client.wait_for_new_version(before[0], config.poll, config.wait_timeout)
        served = client.model_info().version
        if served == before[0]:
            raise ValueError(f"the server still serves {served}; pass --wait to wait for a new version")
        after = ensure_measurement(client, bset, served)
    out = client.model_info().output
    notes = ["the server returns labels only (one-hot)" if out.label_only else
             "the server returns only the top-1 probability" if out.top_k is not None and out.top_k < 2 else
             "ranked by boundary distances: the run has no probes"]
    notes += [f"{name} does not apply to boundary distances: ignored" for name in ignored]
    return analyse_boundaries(bset, before, after, config.top, notes)


def uses_boundaries(run_dir: Path, can_rank: bool) -> bool:
    """`infer` ranks by boundary distances when the run has them and its probes cannot be used:
    there are none, or the served outputs leave them nothing to compare (labels only, top-1)."""
    run_dir = Path(run_dir)
    return (run_dir / BOUNDARY_FILE).exists() and (not can_rank or not (run_dir / PROBING_FILE).exists())


# ---------------------------------------------------------------- the report
def analyse_boundaries(bset: BoundarySet, before: tuple[str, BoundaryMeasurement],
                       after: tuple[str, BoundaryMeasurement], top: int | None, notes: list[str]) -> AttackReport:
    """The report, in the shape of the probes' (attacker/analysis.py): ranking, top-N, confidence."""
    (v_before, b), (v_after, a) = before, after
    classes, p = bset.config.classes, bset.config.params
    common = dict(
        versions=VersionPair(before=v_before, after=v_after),
        probes_per_class={name: int((b.labels == c).sum()) for c, name in enumerate(classes)},
        optimizer={**bset.measurer.describe(), "inputs": len(bset.inputs), "source": bset.config.source,
                   "pool": bset.config.pool, "per_class": bset.config.per_class},
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
             f"{int((a.labels != b.labels).sum())} of {len(b.labels)}",
             "the confidence label is not calibrated for boundary distances: on a retrain with nothing removed, "
             "the most fragile class can stand out as confidently as a removed one (docs/attack.md)"]
    scores = boundary(b, a, len(classes), p.resolution)
    scored = ~np.isnan(scores)
    if scored.sum() < 2:
        return AttackReport(**common, notes=notes, rankable=False, statistic=STATISTIC,
                            reason="the attack cannot rank: the inputs fall into fewer than two classes")
    # classes without inputs take no part in the lead
    return ranked_report(common, notes, STATISTIC, classes, scores, top, confidence(scores[scored]),
                         {name: by_class(classes, f(b, a, len(classes), p.resolution))
                          for name, f in BOUNDARY_STATISTICS.items() if name != STATISTIC})
