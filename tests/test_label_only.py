"""The label-only attack: boundary distances by binary search on labels, before and after.

On an analytic model (a linear softmax classifier in numpy, whose boundaries are known exactly)
the measurement must match the true distance along each direction within its resolution, cost
exactly the queries it claims, and rank the class whose bias was lowered first, while identical
models change nothing. Against the real server in label-only mode, `boundary` + `infer` must
produce a rankable report through the public API alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import httpx
import numpy as np
import pytest
import torch

from attacker.capabilities import from_model_info
from attacker.label_only.attack import analyse_boundaries, boundary_scores
from attacker.labels import LabelRule
from attacker.nulls import history_null
from attacker.label_only.distance import BoundaryDistance
from attacker.label_only.inputs import choose_balanced, noise_inputs
from attacker.label_only.statistics import BOUNDARY_STATISTICS, boundary
from attacker.label_only.store import BoundarySet, BoundarySetConfig
from shared.artifacts import content_version, weights_to_bytes
from shared.schemas import AttackReport, BoundaryParams, ModelInfo, OutputFormat
from tests.conftest import CLASSES, ROOT, ServerProcess
from tests.helpers import TOKEN, deploy, upload, versioned

SHAPE = (1, 8, 8)  # 64 pixels: small enough to be quick, large enough for ten regions


class Linear:
    """A linear classifier on flattened images: label = argmax(W x + b). Its regions are convex,
    so along a ray the label changes once, at t* = min over j of the first crossing with class j."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray):
        self.w, self.b = weights, bias
        self.images = 0

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1).astype(np.float64) @ self.w.T + self.b

    def labels_of(self, x: np.ndarray) -> np.ndarray:
        self.images += len(x)
        return self.logits(x).argmax(1)

    def distance(self, x: np.ndarray, u: np.ndarray) -> float:
        """The exact step along unit direction u at which the label of x changes (no clipping)."""
        z = self.logits(x[None])[0]
        y = z.argmax()
        slope = (self.w @ u.ravel()) - self.w[y] @ u.ravel()  # d/dt of (z_j - z_y)
        gap = z[y] - z  # >= 0; class j overtakes y at t = gap_j / slope_j when slope_j > 0
        t = np.where((slope > 0) & (np.arange(len(z)) != y), gap / np.where(slope > 0, slope, 1), np.inf)
        return float(t.min())


def linear_model(seed: int = 0, classes: int = 10) -> Linear:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((classes, int(np.prod(SHAPE)))) * 0.5
    b = -(w @ np.full(w.shape[1], 0.5))  # every class competes near the centre of the cube
    return Linear(w, b + rng.normal(0, 0.1, classes))


def test_binary_search_finds_the_analytic_distance_within_its_resolution():
    model = linear_model()
    rng = np.random.default_rng(1)
    x = (0.5 + rng.uniform(-0.05, 0.05, (20, *SHAPE))).astype(np.float32)
    directions = BoundaryDistance(directions=6).directions_for(len(x), SHAPE, np.random.default_rng([0, 1]))
    # keep every segment inside the cube, where clipping cannot bend it: the analytic answer holds
    room = 0.44 / np.abs(directions).max()
    probe = BoundaryDistance(directions=6, max_radius=float(room), steps=12)
    m = probe.measure(model.labels_of, x, directions)
    truth = np.array([[model.distance(x[i], directions[i, k]) for k in range(6)] for i in range(len(x))])
    inside = truth < probe.params.max_radius
    assert inside.sum() > 60 and (~inside).sum() > 0  # both kinds are exercised
    np.testing.assert_allclose(m.distances[inside], truth[inside], atol=probe.params.resolution * 1.01)
    assert not m.censored[inside].any() and m.censored[~inside].all()
    assert np.all(m.distances[~inside] == probe.params.max_radius)  # censored at max_radius
    np.testing.assert_array_equal(m.labels, model.labels_of(x))
    own = np.repeat(m.labels[:, None], 6, axis=1)
    assert np.all(m.entered[~inside] == -1) and np.all(m.entered[inside] != own[inside])


def test_queries_are_what_is_claimed_one_batch_per_bisection_step():
    model = linear_model()
    batches: list[int] = []

    def labels_of(x):
        batches.append(len(x))
        return model.labels_of(x)

    x = noise_inputs(30, SHAPE, np.random.default_rng(2))
    params = BoundaryParams(directions=8, max_radius=2.0, steps=10, seed=0)
    m = BoundaryDistance(params).measure(labels_of, x, BoundaryDistance(params).directions_for(
        30, SHAPE, np.random.default_rng(3)))
    changing = int((~m.censored).sum())
    assert 0 < changing < 30 * 8
    # the inputs' labels, the far end of every segment, then one image per step per changing segment
    assert batches == [30, 30 * 8] + [changing] * 10
    assert m.queries == model.images == 30 + 30 * 8 + 10 * changing <= 30 * params.queries_per_input()
    assert BoundaryParams().queries_per_input() == 1 + 8 * (1 + 10) == 89  # the defaults


def test_same_seed_same_directions_and_distances():
    model = linear_model()
    x = noise_inputs(10, SHAPE, np.random.default_rng([5, 0]))
    np.testing.assert_array_equal(x, noise_inputs(10, SHAPE, np.random.default_rng([5, 0])))
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    probe = BoundaryDistance(max_radius=2.0)
    d1 = probe.generate(model.labels_of, x, np.random.default_rng([5, 1]))
    d2 = probe.generate(model.labels_of, x, np.random.default_rng([5, 1]))
    np.testing.assert_array_equal(d1, d2)
    u = probe.directions_for(10, SHAPE, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(u.reshape(10, 8, -1), axis=-1), 1.0, rtol=1e-5)


def _boundary_set(tmp_path, x: np.ndarray, params: BoundaryParams) -> BoundarySet:
    config = BoundarySetConfig(version="v0", input_shape=SHAPE, classes=CLASSES, source="noise",
                               params=params.model_copy(update={"pool": len(x), "per_class": len(x)}))
    directions = BoundaryDistance(params).directions_for(len(x), SHAPE, np.random.default_rng([params.seed, 1]))
    return BoundarySet(tmp_path, config, x, directions, len(x), [])


@pytest.mark.parametrize("removed", [2, 7])
def test_lowering_a_class_s_bias_ranks_it_first_and_identical_models_change_nothing(tmp_path, removed):
    before = linear_model()
    after = Linear(before.w, before.b - 0.15 * np.eye(10)[removed])  # "unlearning": c's region shrinks
    pool = noise_inputs(2000, SHAPE, np.random.default_rng([0, 0]))
    x = pool[choose_balanced(before.labels_of(pool), 10, 10)]
    params = BoundaryParams(directions=8, max_radius=2.0, steps=10, seed=0)
    bset = _boundary_set(tmp_path, x, params)
    m_before = bset.measurer.measure(before.labels_of, x, bset.directions)
    assert len(np.unique(m_before.labels)) >= 8  # most classes are scored
    m_after = bset.measurer.measure(after.labels_of, x, bset.directions)
    report = analyse_boundaries(bset, ("v0", m_before), ("v1", m_after), None, [], None, LabelRule())
    assert report.rankable and report.statistic == "boundary"
    assert report.ranking[0] == report.inferred[0] == CLASSES[removed], report.scores
    assert report.confidence.label in ("medium", "high"), report.confidence
    assert set(report.other_statistics) == set(BOUNDARY_STATISTICS) - {"boundary"}
    AttackReport.model_validate_json(report.model_dump_json())  # the same shape as the probes' reports
    # the null: the same model twice changes no distance, so no class scores and nothing stands out
    same = bset.measurer.measure(before.labels_of, x, bset.directions)
    scores = boundary(m_before, same, 10, params.resolution)
    assert np.all(scores[~np.isnan(scores)] == 0.0)
    null = analyse_boundaries(bset, ("v0", m_before), ("v0b", same), None, [], None, LabelRule())
    assert null.confidence.label == "none" and null.inferred == [] and null.removed_count.estimated == 0


def test_the_label_only_attack_measures_classes_against_its_history_too(tmp_path):
    """The same treatment as the probes: boundary measurements of the updates watched before are
    the null; a class whose bias is lowered stands out against it, a further update that moved
    every bias a little (and a fragile class a lot) does not."""
    before = linear_model()
    rng = np.random.default_rng(5)

    def nudged(drop: float = 0.0) -> Linear:
        shift = rng.normal(0, 0.01, 10)
        shift[4] = rng.normal(0, 0.2)  # a fragile class: its region moves on every update
        shift[7] -= drop
        return Linear(before.w, before.b + shift)

    pool = noise_inputs(2000, SHAPE, np.random.default_rng([0, 0]))
    x = pool[choose_balanced(before.labels_of(pool), 10, 10)]
    params = BoundaryParams(directions=8, max_radius=2.0, steps=10, seed=0)
    bset = _boundary_set(tmp_path, x, params)
    m_before = bset.measurer.measure(before.labels_of, x, bset.directions)
    history = {f"h{k}": bset.measurer.measure(nudged().labels_of, x, bset.directions) for k in range(8)}
    null = history_null(lambda statistic, m: boundary_scores(bset, m_before, m, statistic), history)
    rule = LabelRule()
    removed = bset.measurer.measure(nudged(drop=0.15).labels_of, x, bset.directions)
    report = analyse_boundaries(bset, ("v0", m_before), ("v1", removed), None, [], null, rule)
    assert report.detection.null_model == "history" and report.ranking[0] == CLASSES[7], report.scores
    assert report.confidence.label in ("high", "medium") and report.detection.p_value <= rule.medium_p
    quiet = analyse_boundaries(bset, ("v0", m_before), ("v2", bset.measurer.measure(nudged().labels_of, x,
                                                                                     bset.directions)),
                               None, [], null, rule)
    assert quiet.confidence.label in ("none", "low"), (quiet.confidence, quiet.detection)


def test_probe_refusal_points_to_the_label_only_attack():
    info = ModelInfo(version="v", input_shape=(3, 32, 32), classes=CLASSES, output=OutputFormat(label_only=True))
    caps = from_model_info(info)
    assert not caps.can_probe and "python -m attacker boundary" in caps.notes[0]


# ------------------------------------------------------------------ end to end, against the real server
def requests_by_route(server: ServerProcess) -> Counter:
    counts: Counter = Counter()
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("uia_requests_total{"):
            route = line.split('route="', 1)[1].split('"', 1)[0]
            counts[route] += float(line.rsplit(" ", 1)[1])
    return counts


def attacker(server: ServerProcess, *args: str, code: int = 0) -> subprocess.CompletedProcess:
    """`python -m attacker` with the attacker's environment (the public address only); returns the
    process and checks that it made only inference requests."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("UIA_")},
           "UIA_ATTACKER_SERVER_URL": server.url, "COLUMNS": "200"}
    before = requests_by_route(server)
    result = subprocess.run([sys.executable, "-m", "attacker", *args], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=120)
    assert result.returncode == code, result.stderr[-3000:]
    made = requests_by_route(server) - before
    made.pop("/metrics", None)  # our own reading of the counters
    assert made and all(route.startswith(("/v1/", "/v2/")) for route in made), made
    return result


@pytest.mark.slow
def test_boundary_then_infer_ranks_against_a_label_only_server(tmp_path):
    meta, weights, model = versioned(seed=0, width=4)
    # "unlearning": the class the model gives most noise images loses 1.5 from its bias
    with torch.inference_mode():
        pool = torch.from_numpy(noise_inputs(200, (3, 32, 32), np.random.default_rng([3, 0])))
        removed = int(torch.bincount(model(pool).argmax(1), minlength=10).argmax())
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias[removed] -= 1.5
    after_weights = weights_to_bytes(model)
    after_meta = meta.model_copy(update={"version": content_version(after_weights, meta)})
    run = tmp_path / "attack"
    with ServerProcess(tmp_path / "store") as server, httpx.Client(base_url=server.url, timeout=60) as admin:
        for m, w in ((meta, weights), (after_meta, after_weights)):
            upload(admin, m, w).raise_for_status()
        deploy(admin, meta.version, label_only=True).raise_for_status()
        assert httpx.get(f"{server.url}/v1/model").json()["output"]["label_only"] is True

        refused = attacker(server, "probe", "--run", str(tmp_path / "probes"), "--method", "nes", code=3)
        assert "python -m attacker boundary" in refused.stdout

        flags = ["--pool", "200", "--per-class", "5", "--directions", "4", "--steps", "6", "--seed", "3"]
        first = json.loads(attacker(server, "boundary", "--run", str(run), *flags).stdout)
        assert first["version"] == meta.version and first["selection_queries"] == 200
        assert first["queries"] <= first["inputs"] * (1 + 4 * (1 + 6))
        saved = json.loads((run / "boundaries" / f"{meta.version}.json").read_text())
        assert saved["directions_digest"] == first["directions_digest"] and saved["queries"] == first["queries"]

        deploy(admin, after_meta.version, label_only=True).raise_for_status()
        second = json.loads(attacker(server, "boundary", "--run", str(run)).stdout)  # the saved inputs
        assert second["version"] == after_meta.version and second["selection_queries"] == 0
        assert second["directions_digest"] == first["directions_digest"]
        assert (run / "boundaries" / f"{after_meta.version}.npz").exists()

        out = attacker(server, "infer", "--run", str(run))
    report = AttackReport.model_validate_json(out.stdout)
    assert report == AttackReport.model_validate_json((run / "report.json").read_text())
    assert report.rankable and report.statistic == "boundary"
    assert report.versions.before == meta.version and report.versions.after == after_meta.version
    assert report.ranking[0] == CLASSES[removed], report.scores
    assert report.queries.total == 200 + first["queries"] + second["queries"]
