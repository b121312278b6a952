"""The attacker against a real served model: cheap probes, resumable runs, honest failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from attacker.client import ApiError, BudgetExhausted, InferenceClient, VersionChanged
from attacker.optimizers import LowResNES
from developer.factory import developer_from_settings
from developer.push import push_version
from developer.settings import DeveloperSettings
from tests.conftest import ROOT, ServerProcess

pytestmark = pytest.mark.slow

TINY = dict(train_limit=10000, test_limit=500, pretrain_epochs=3, width=8, threads=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny original model and its exact unlearning of all of 'ship' (trained once per module)."""
    dev = developer_from_settings(DeveloperSettings(workdir=tmp_path_factory.mktemp("dev"), **TINY))
    original = dev.finetune()
    unlearned = dev.unlearn(dev.forget_set([(dev.class_index("ship"), 1.0)]))
    return original, unlearned


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


def attacker(*args: str, server: ServerProcess, check: bool = True, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "UIA_SERVER_URL": server.url, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "attacker", *args], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


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


def test_the_attack_with_efficient_probes_names_the_removed_class(served, models, tmp_path):
    server = served()
    run = str(tmp_path / "attack")
    attacker("probe", "--run", run, "--method", "nes", "--per-class", "2", server=server)
    deploy_version(server, models[1])
    out = attacker("infer", "--run", run, "--statistic", "logodds", server=server)
    report = json.loads((tmp_path / "attack" / "report.json").read_text())
    assert report["rankable"] and report["inferred"][0] == "ship" == report["ranking"][0]
    assert report["confidence"]["label"] in ("high", "medium", "low")
    assert set(report["other_statistics"]) == {"beta", "logit", "zlogit"}
    assert (tmp_path / "attack" / "report.md").read_text().startswith("# Label inference")
    assert (tmp_path / "attack" / "report-chart.png").stat().st_size > 10_000
    assert "ship" in out.stdout


def test_interrupted_probing_resumes_with_the_saved_probes(served, tmp_path):
    server = served()
    run = tmp_path / "attack"
    args = [sys.executable, "-m", "attacker", "probe", "--run", str(run), "--method", "nes", "--per-class", "3"]
    env = {**os.environ, "UIA_SERVER_URL": server.url}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run / "probes.npz").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C mid-run
    proc.wait(timeout=30)
    with np.load(run / "probes.npz") as z:
        saved = {tuple(s): img for s, img in zip(z["slot"].tolist(), z["images"])}
    assert 0 < len(saved) < 30
    out = attacker("probe", "--run", str(run), "--method", "nes", "--per-class", "3", server=server)
    assert f"resuming: {len(saved)} probes already made" in out.stderr
    with np.load(run / "probes.npz") as z:
        assert len(z["slot"]) == 30
        final = {tuple(s): img for s, img in zip(z["slot"].tolist(), z["images"])}
    assert all(np.array_equal(final[slot], image) for slot, image in saved.items())


def test_budget_stop_loses_nothing_and_the_run_continues(served, tmp_path):
    server = served(api_keys='{"k": 500}', allow_anonymous="false", budget_window_s="3")
    run = str(tmp_path / "attack")
    env_args = ["--run", run, "--api-key", "k", "--method", "nes", "--per-class", "1", "--classes", "0", "1", "2"]
    stopped = attacker("probe", *env_args, server=server, check=False)
    assert stopped.returncode == 1 and "query budget exhausted" in stopped.stderr
    assert "run the same command again" in stopped.stderr
    finished = attacker("probe", *env_args, "--max-budget-wait", "10", server=server)
    assert "waiting" in finished.stderr
    with np.load(tmp_path / "attack" / "probes.npz") as z:
        assert sorted(z["slot"][:, 0].tolist()) == [0, 1, 2]


@pytest.mark.parametrize("options", [{"label_only": True}, {"top_k": 1}])
def test_label_only_or_top1_outputs_get_no_false_ranking(served, models, tmp_path, options):
    server = served()
    run = str(tmp_path / "attack")
    attacker("probe", "--run", run, "--method", "nes", "--per-class", "1", server=server)
    deploy_version(server, models[1], **options)
    result = attacker("infer", "--run", run, server=server, check=False)
    assert result.returncode == 3, result.stderr
    report = json.loads((tmp_path / "attack" / "report.json").read_text())
    assert report["rankable"] is False and report["ranking"] is None and "cannot rank" in report["reason"]
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
    report = json.loads((tmp_path / "attack" / "report.json").read_text())
    assert report["rankable"] and report["statistic"] == "logodds"
    assert any("top-3" in note for note in report["notes"])


def test_version_change_mid_probing_stops_with_a_clear_message(served, models, tmp_path):
    server = served()
    run = tmp_path / "attack"
    args = [sys.executable, "-m", "attacker", "probe", "--run", str(run), "--per-class", "20"]  # slow ZOO
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "UIA_SERVER_URL": server.url},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
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
    run = str(tmp_path / "attack")
    attacker("probe", "--run", run, "--method", "nes", "--per-class", "1", server=server)
    deploy_version(server, models[1])
    attacker("infer", "--run", run, server=server)
    deploy_version(server, models[0])
    attacker("probe", "--run", run, "--method", "nes", "--per-class", "1", "--seed", "5", "--fresh", server=server)
    assert not (tmp_path / "attack" / "report.json").exists()
    deploy_version(server, models[1])
    attacker("infer", "--run", run, server=server)  # snapshots the new probes on θ_u again
    report = json.loads((tmp_path / "attack" / "report.json").read_text())
    assert report["queries"]["snapshot_after"] == 10
