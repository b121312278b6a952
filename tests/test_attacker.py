"""The attacker against a real served model: cheap probes, resumable runs, honest failures.

The attack must name each of two removed classes, `ship` and one drawn from `SEED` (an attacker
that always answers the same class fails), and must not claim a confident ranking when nothing
was removed (a reseeded retrain of the same data)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from attacker import Campaign, LabelRule
from attacker.client import ApiError, BudgetExhausted, InferenceClient, VersionChanged
from attacker.optimizers import LowResNES
from attacker.snapshots import probe_digest
from developer.config import UnlearningConfig
from developer.factory import developer_from_settings
from developer.push import push_version
from developer.settings import DeveloperSettings
from shared.schemas import AttackReport
from tests.conftest import CLASSES, ROOT, ServerProcess

pytestmark = pytest.mark.slow

TINY = dict(train_limit=10000, test_limit=500, pretrain_epochs=3, width=8, threads=2)
SEED = 2026
DRAWN = CLASSES[int(np.random.default_rng(SEED).choice([c for c in range(10) if CLASSES[c] != "ship"]))]


HISTORY = 8


@pytest.fixture(scope="module")
def developer(tmp_path_factory):
    return developer_from_settings(DeveloperSettings(workdir=tmp_path_factory.mktemp("dev"), **TINY))


@pytest.fixture(scope="module")
def models(developer):
    """A tiny original model; its exact unlearning of all of 'ship'; of all of the drawn class; and a
    null version: retrained with a fresh data order, nothing deleted (trained once per module)."""
    dev = developer
    original = dev.finetune()
    ship = dev.unlearn(dev.forget_set([(dev.class_index("ship"), 1.0)]))
    drawn = dev.unlearn(dev.forget_set([(dev.class_index(DRAWN), 1.0)]))
    null = dev.unlearn(np.empty(0, np.int64), UnlearningConfig(reseed=True))
    assert len({original.version, ship.version, drawn.version, null.version}) == 4
    return original, ship, drawn, null


@pytest.fixture(scope="module")
def nulls(developer, models):
    """Updates that single out no class, as a service makes them between deletion requests:
    deletions of a tenth of a class's worth of random samples, and retrains with a fresh order."""
    dev = developer
    spread = [dev.unlearn(dev.spread_forget_set(0.5, d)) for d in range(HISTORY // 2)]
    retrains = [dev.unlearn(np.empty(0, np.int64), UnlearningConfig(reseed=True, order_seed=1000 + d))
                for d in range(HISTORY - HISTORY // 2 + 1)]
    versions = spread + retrains
    assert len({v.version for v in versions} | {m.version for m in models}) == len(versions) + len(models)
    return versions


@pytest.fixture
def served(models, tmp_path):
    def start(deploy: str = "original", **env) -> ServerProcess:
        server = ServerProcess(tmp_path / "store", extra_env={f"UIA_SERVER_{k.upper()}": v for k, v in env.items()})
        server.start()
        for version in models:
            push_version(version.path, server.url, server.token, deploy=False)
        deploy_version(server, models[0 if deploy == "original" else 1])
        servers.append(server)
        return server

    servers: list[ServerProcess] = []
    yield start
    for server in servers:
        server.stop()


def deploy_version(server: ServerProcess, version, **options) -> None:
    with server.admin() as admin:
        admin.put("/admin/deployment", json={"version": version.version, "options": options}).raise_for_status()


def attacker_env(server: ServerProcess) -> dict:
    """The attacker's environment: the server's public address and nothing else of ours."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("UIA_")},
            "UIA_ATTACKER_SERVER_URL": server.url, "COLUMNS": "200"}


def attacker(*args: str, server: ServerProcess, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "attacker", *args], cwd=ROOT, env=attacker_env(server),
                            text=True, capture_output=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def report_of(run) -> AttackReport:
    return AttackReport.model_validate_json((run / "report.json").read_bytes())


def served_images(server: ServerProcess) -> float:
    """Images the server has classified so far (its /metrics)."""
    lines = httpx.get(f"{server.url}/metrics").text.splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("uia_images_total{"))


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


def test_efficient_probes_stay_far_below_zoo_cost(served):
    server = served()
    budget = 4_000  # per probe; one paper ZOO try alone is 20 x 2,049 = 40,980 queries
    with InferenceClient(server.url) as client:
        info = client.model_info()
        for c in range(4):
            result = LowResNES(threshold=0.9995, max_queries=budget).generate(
                client.probabilities, info.input_shape, c, np.random.default_rng([1, c]))
            assert result.accepted and result.confidence >= 0.9995, (c, result.queries)
            assert result.queries <= budget
        assert client.total_queries == client.queries["other"] <= 4 * budget


@pytest.fixture(scope="module")
def probed(models, tmp_path_factory):
    """One probe set on the original model (NES, 2 per class), copied for each test that infers."""
    store = tmp_path_factory.mktemp("probed")
    server = ServerProcess(store / "store").start()
    try:
        for version in models:
            push_version(version.path, server.url, server.token, deploy=False)
        deploy_version(server, models[0])
        attacker("probe", "--run", str(store / "attack"), "--method", "nes", "--per-class", "2", server=server)
    finally:
        server.stop()
    return store / "attack"


@pytest.mark.parametrize("removed", ["ship", DRAWN])
def test_the_attack_with_efficient_probes_names_each_removed_class(served, models, probed, tmp_path, removed):
    server = served()
    run = tmp_path / "attack"
    shutil.copytree(probed, run)
    deploy_version(server, models[1 if removed == "ship" else 2])
    out = attacker("infer", "--run", str(run), "--statistic", "logodds", server=server)
    report = report_of(run)
    assert report.capabilities == []  # the default attacker: the public API and nothing else
    assert AttackReport.model_validate_json(out.stdout) == report
    assert report.rankable and report.inferred[0] == removed == report.ranking[0], report.scores
    assert report.confidence.label != "low", report.confidence
    assert set(report.other_statistics) == {"beta", "logit", "zlogit"}
    assert (run / "report.md").read_text().startswith("# Label inference")
    assert (run / "report-chart.png").stat().st_size > 10_000


def test_nothing_removed_gets_no_confident_ranking(served, models, probed, tmp_path):
    server = served()
    run = tmp_path / "attack"
    shutil.copytree(probed, run)
    deploy_version(server, models[3])  # retrained with a fresh data order, nothing deleted
    attacker("infer", "--run", str(run), server=server)
    report = report_of(run)
    assert report.rankable and report.confidence.label != "high", (report.confidence, report.scores)


def test_the_history_of_watched_updates_is_the_null_a_class_is_measured_against(served, models, nulls, probed,
                                                                                 tmp_path):
    """A long-running attacker snapshots every version it sees; the updates it watched before are
    the null of the next one: the class removed then stands out against its own noise, and a
    further update that removed nothing is not called targeted."""
    server = served()
    for version in nulls:
        push_version(version.path, server.url, server.token, deploy=False)
    run = tmp_path / "attack"
    shutil.copytree(probed, run)
    with InferenceClient(server.url) as client:
        campaign = Campaign(client, run)
        for version in nulls[:HISTORY]:  # watched, one update after another
            deploy_version(server, version)
            campaign.snapshot()
    deploy_version(server, models[1])  # ship removed
    attacker("infer", "--run", str(run), "--null", "history", server=server)
    report = report_of(run)
    assert report.detection.null_model == "history" and report.detection.null_draws == HISTORY
    assert report.ranking[0] == report.inferred[0] == "ship", report.scores
    assert report.confidence.label in ("high", "medium") and report.detection.p_value <= LabelRule().medium_p
    assert set(report.raw_statistics) == {"beta", "logodds", "logit", "zlogit"}
    deploy_version(server, nulls[HISTORY])  # nothing removed, once more
    attacker("infer", "--run", str(run), "--after", nulls[HISTORY].version, server=server)  # auto: the history
    quiet = report_of(run)
    assert quiet.detection.null_model == "history" and quiet.detection.null_draws == HISTORY + 1
    assert quiet.confidence.label in ("none", "low"), (quiet.confidence, quiet.detection)


def test_interrupted_probing_resumes_to_exactly_the_uninterrupted_run(served, tmp_path):
    server = served()
    run, reference = tmp_path / "attack", tmp_path / "reference"
    # 100 probes: with NES this cheap a shorter run can end before the Ctrl-C arrives
    args = [sys.executable, "-m", "attacker", "probe", "--run", str(run), "--method", "nes", "--per-class", "10"]
    # a shell's background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # give the prober the default disposition, as a terminal's Ctrl-C would find it
    proc = subprocess.Popen(args, cwd=ROOT, env=attacker_env(server), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: (run / "probes.npz").exists(), 120, "the first probe")
        proc.send_signal(signal.SIGINT)  # Ctrl-C mid-run
        proc.wait(timeout=120)  # a loaded machine can take a while to unwind and exit
    finally:
        proc.kill()
    with np.load(run / "probes.npz") as z:
        saved = len(z["slot"])
    assert 0 < saved < 100
    out = attacker("probe", "--run", str(run), "--method", "nes", "--per-class", "10", server=server)
    assert f"resuming: {saved} probes already made" in out.stderr
    attacker("probe", "--run", str(reference), "--method", "nes", "--per-class", "10", server=server)
    with np.load(run / "probes.npz") as resumed, np.load(reference / "probes.npz") as uninterrupted:
        assert set(resumed.files) == set(uninterrupted.files)
        for name in resumed.files:
            assert np.array_equal(resumed[name], uninterrupted[name]), name


def test_budget_stop_loses_nothing_and_the_run_continues(served, models, tmp_path):
    # An hour-long window: the budget is certainly exhausted mid-run, whatever the machine's speed.
    server = served(api_keys='{"k": 500}', allow_anonymous="false", budget_window_s="3600")
    run = tmp_path / "attack"
    args = ["--run", str(run), "--api-key", "k", "--method", "nes", "--per-class", "1", "--classes", "0", "1", "2"]
    stopped = attacker("probe", *args, server=server, check=False)
    assert stopped.returncode == 1 and "query budget exhausted" in stopped.stderr
    assert "run the same command again" in stopped.stderr
    with np.load(run / "probes.npz") as z:
        made = {tuple(slot): image for slot, image in zip(z["slot"].tolist(), z["images"])}
    assert len(made) < 3
    # The operator raises the key's budget (a restart with the same store): the run continues.
    server.stop()
    bigger = ServerProcess(server.store, extra_env={"UIA_SERVER_API_KEYS": '{"k": 1000000}',
                                                    "UIA_SERVER_ALLOW_ANONYMOUS": "false"}).start()
    try:
        finished = attacker("probe", *args, server=bigger)
    finally:
        bigger.stop()
    assert f"resuming: {len(made)} probes already made" in finished.stderr
    with np.load(run / "probes.npz") as z:
        assert sorted(z["slot"][:, 0].tolist()) == [0, 1, 2]
        final = {tuple(slot): image for slot, image in zip(z["slot"].tolist(), z["images"])}
    assert all(np.array_equal(final[slot], image) for slot, image in made.items())


@pytest.mark.parametrize("options", [{"label_only": True}, {"top_k": 1}])
def test_label_only_or_top1_outputs_get_no_false_ranking(served, models, tmp_path, options):
    server = served()
    run = str(tmp_path / "attack")
    attacker("probe", "--run", run, "--method", "nes", "--per-class", "1", server=server)
    deploy_version(server, models[1], **options)
    result = attacker("infer", "--run", run, server=server, check=False)
    assert result.returncode == 3, result.stderr
    report = report_of(tmp_path / "attack")
    assert report.rankable is False and report.ranking is None and "cannot rank" in report.reason
    assert "No ranking" in (tmp_path / "attack" / "report.md").read_text()
    # and probing itself refuses against such a deployment
    probing = attacker("probe", "--run", str(tmp_path / "other"), "--method", "nes", server=server, check=False)
    assert probing.returncode == 3 and "cannot run" in probing.stderr


def test_top_k_outputs_still_rank_with_a_note(served, models, tmp_path):
    server = served()
    deploy_version(server, models[0], top_k=3)
    run = str(tmp_path / "attack")
    attacker("probe", "--run", run, "--method", "nes", "--per-class", "1", server=server)
    deploy_version(server, models[1], top_k=3)
    attacker("infer", "--run", run, "--statistic", "zlogit", server=server)
    report = report_of(tmp_path / "attack")
    assert report.rankable and report.statistic == "logodds"
    assert report.ranking[0] == "ship", report.scores  # still right, not just present
    assert any("top-3" in note for note in report.notes)


def test_version_change_mid_probing_stops_with_a_clear_message(served, models, tmp_path):
    server = served()
    run = tmp_path / "attack"
    args = [sys.executable, "-m", "attacker", "probe", "--run", str(run), "--per-class", "20"]  # slow ZOO
    proc = subprocess.Popen(args, cwd=ROOT, env=attacker_env(server), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_until(lambda: served_images(server) > 0, 120, "probing")  # it is mid-probe now: swap under it
    deploy_version(server, models[1])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert f"replaced version {models[0].version} by {models[1].version}" in err
    assert "probe again with --fresh" in err


# ------------------------------------------------------------------ the client alone, on a mock transport
def mock_client(handler, **kwargs) -> tuple[InferenceClient, list[float]]:
    sleeps: list[float] = []
    client = InferenceClient("http://mock", sleep=sleeps.append, **kwargs)
    client.http = httpx.Client(base_url="http://mock", transport=httpx.MockTransport(handler))
    return client, sleeps


def answer(version: str, n: int = 1) -> httpx.Response:
    probs = np.full((n, 10), 0.1)
    return httpx.Response(200, content=probs.tobytes(), headers={"x-model-version": version})


def test_client_waits_out_429_and_retries_transient_errors():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, json={"error": "budget_exceeded", "detail": "over"},
                                  headers={"retry-after": "7"})
        if len(calls) == 2:
            return httpx.Response(503, json={"error": "timeout", "detail": "busy"})
        if len(calls) == 3:
            raise httpx.ConnectError("refused")
        return answer("v1")

    client, sleeps = mock_client(handler, max_budget_wait=10, backoff=0.5)
    probs, version = client.predict(np.zeros((1, 3, 32, 32), np.float32))
    assert version == "v1" and probs.shape == (1, 10)
    assert sleeps == [7.0, 0.5, 1.0]
    assert client.total_queries == 1  # only answered images count


def test_client_stops_on_long_budget_waits_and_dead_servers():
    client, _ = mock_client(lambda r: httpx.Response(429, json={"detail": "over"}, headers={"retry-after": "600"}))
    with pytest.raises(BudgetExhausted) as exc:
        client.predict(np.zeros((1, 3, 32, 32), np.float32))
    assert exc.value.retry_after == 600

    def down(request):
        raise httpx.ConnectError("connection refused")

    client, sleeps = mock_client(down, retries=3, backoff=0.1)
    with pytest.raises(ApiError, match="cannot reach the server.*after 3 retries"):
        client.model_info()
    assert sleeps == [0.1, 0.2, 0.4]


def test_client_refuses_to_mix_versions():
    versions = iter(["v1", "v2"])
    client, _ = mock_client(lambda r: answer(next(versions), 2048))
    with pytest.raises(VersionChanged, match="v2, not v1"):
        client.predict(np.zeros((4096, 3, 32, 32), np.float32))


def test_a_fresh_probe_set_never_reuses_old_snapshots(served, models, tmp_path):
    server = served()
    run = tmp_path / "attack"
    attacker("probe", "--run", str(run), "--method", "nes", "--per-class", "1", server=server)
    deploy_version(server, models[1])
    attacker("infer", "--run", str(run), server=server)
    old_digest = json.loads((run / "snapshots" / f"{models[1].version}.json").read_text())["probe_digest"]
    deploy_version(server, models[0])
    attacker("probe", "--run", str(run), "--method", "nes", "--per-class", "1", "--seed", "5", "--fresh",
             server=server)
    assert not (run / "report.json").exists()
    deploy_version(server, models[1])
    attacker("infer", "--run", str(run), server=server)  # snapshots the new probes on θ_u again
    with np.load(run / "probes.npz") as z:
        new_digest = probe_digest(z["images"][z["accepted"]])
    assert new_digest != old_digest
    for version in (models[0].version, models[1].version):  # both snapshots are of the new probes
        assert json.loads((run / "snapshots" / f"{version}.json").read_text())["probe_digest"] == new_digest
    assert report_of(run).queries.snapshot_after == 10


def test_restart_stale_resumes_matching_probes_and_replaces_stale_ones(served, models, tmp_path):
    """`--restart stale` (compose's probe step): the same settings on the same version resume without a
    query; another version makes the old probes stale, and only then are they replaced."""
    server = served()
    run = tmp_path / "attack"
    probe = ("probe", "--run", str(run), "--method", "nes", "--per-class", "1", "--restart", "stale")
    first = json.loads(attacker(*probe, server=server).stdout)
    again = json.loads(attacker(*probe, server=server).stdout)
    assert again["session_queries"] == again["snapshot"]["queries"] == 10  # resumed: only the snapshot
    assert again["queries"] == first["queries"]
    refused = attacker("probe", "--run", str(run), "--method", "nes", "--per-class", "1", "--seed", "1",
                       server=server, check=False)
    assert refused.returncode == 1 and "--restart stale" in refused.stderr  # the default still refuses
    deploy_version(server, models[1])
    replaced = json.loads(attacker(*probe, server=server).stdout)
    assert replaced["version"] == models[1].version and replaced["session_queries"] > 10
    assert sorted(p.stem for p in (run / "snapshots").glob("*.json")) == [models[1].version]


def developer_cli(*args: str, workdir) -> subprocess.CompletedProcess:
    tiny = ["--train-limit", str(TINY["train_limit"]), "--test-limit", str(TINY["test_limit"]),
            "--pretrain-epochs", str(TINY["pretrain_epochs"]), "--width", str(TINY["width"])]
    result = subprocess.run([sys.executable, "-m", "developer", *args, "--workdir", str(workdir), *tiny], cwd=ROOT,
                            env={**os.environ, "TQDM_DISABLE": "1"}, text=True, capture_output=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_natural_probes_and_shadow_models_name_the_class_and_say_what_they_used(served, models, tmp_path):
    """The opt-in capabilities: public data (D0, exported by the developer) for natural probes, and
    shadow models trained on it; every report made with them names them."""
    public = tmp_path / "d0.npz"
    exported = json.loads(developer_cli("export-public", "--out", str(public), workdir=tmp_path / "dev").stdout)
    assert exported["images"] == int(TINY["train_limit"] * 0.8) and exported["classes"] == CLASSES
    server = served()
    run = tmp_path / "attack"
    refused = attacker("probe", "--run", str(run), "--method", "natural", server=server, check=False)
    assert refused.returncode == 1 and "needs the public-data capability" in refused.stderr
    probed = json.loads(attacker("probe", "--run", str(run), "--method", "natural", "--per-class", "20",
                                 "--public-data", str(public), server=server).stdout)
    assert probed["queries"] == exported["images"]  # one query per public image asked, nothing else
    shadow = subprocess.run([sys.executable, "-m", "attacker.shadow", "--run", str(run), "--public-data", str(public),
                             # the shadow's guessed recipe is the target's (TINY, paper-code): the null is only as
                             # good as that guess (a width-4, one-epoch shadow here ranks another class first)
                             "--width", "8", "--pretrain-epochs", "3", "--finetune-epochs", "1", "--finetune-lr", "0.001",
                             "--threads", "2"],
                            cwd=ROOT, env=attacker_env(server), text=True, capture_output=True, timeout=600)
    assert shadow.returncode == 0, shadow.stderr[-3000:]
    deploy_version(server, models[1])  # ship removed
    plain = json.loads(attacker("infer", "--run", str(run), server=server).stdout)
    assert plain["ranking"][0] == "ship" and len(plain["capabilities"]) == 1
    assert plain["capabilities"][0].startswith("public in-domain data")
    calibrated = json.loads(attacker("infer", "--run", str(run), "--null", "shadow", server=server).stdout)
    assert calibrated["ranking"][0] == "ship"
    assert calibrated["capabilities"][1].startswith("shadow calibration")
    detection = calibrated["detection"]
    assert detection["null_model"] == "shadow" and detection["null_description"] == calibrated["capabilities"][1]
    assert 0 < detection["p_value"] <= 1 and detection["null_draws"] >= 1
