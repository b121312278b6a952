"""The whole story through the real CLIs and a real server process, at toy size.

Each program gets only its own environment: the developer the server's admin token, the attacker
the server's public address and nothing else. The attacker's steps must make no admin request
(counted by the server's /metrics)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import numpy as np
import pytest

from developer.results import VersionResult
from shared.schemas import AttackReport
from tests.conftest import ROOT
from tests.golden import check_golden, fingerprint

pytestmark = pytest.mark.slow

TINY = ["--train-limit", "6000", "--test-limit", "500", "--pretrain-epochs", "2", "--width", "8", "--threads", "2"]


def cli(*args: str, env: dict) -> str:
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True, capture_output=True,
                            timeout=600)
    assert result.returncode == 0, f"{' '.join(args[:2])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def clean_env(**settings: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("UIA_")}, "TQDM_DISABLE": "1", **settings}


def admin_requests(server_url: str) -> float:
    """Requests to any /admin route so far, from the server's Prometheus counters."""
    total = 0.0
    for line in httpx.get(f"{server_url}/metrics").text.splitlines():
        if line.startswith("uia_requests_total{") and 'route="/admin' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_attacker_names_the_class_removed_in_large_proportion(server_process, tmp_path):
    developer_env = clean_env(UIA_DEVELOPER_SERVER_URL=server_process.url,
                              UIA_DEVELOPER_SERVER_TOKEN=server_process.token)
    attacker_env = clean_env(UIA_ATTACKER_SERVER_URL=server_process.url)
    workdir, run = str(tmp_path / "developer"), str(tmp_path / "attack")

    original = VersionResult.model_validate_json(cli("developer", "finetune", "--workdir", workdir, *TINY, "--push",
                                                     env=developer_env))
    assert original.deployed and original.pushed_to == server_process.url
    admin_before = admin_requests(server_process.url)
    probing = json.loads(cli("attacker", "probe", "--run", run, "--per-class", "1", "--threshold", "0.99",
                             "--early-accept", env=attacker_env))
    assert probing["version"] == original.version and probing["accepted"] == 10
    assert admin_requests(server_process.url) == admin_before  # the attacker never touched /admin
    unlearned = VersionResult.model_validate_json(cli(
        "developer", "unlearn", "--workdir", workdir, *TINY, "--class", "ship", "--proportion", "1.0", "--push",
        env=developer_env))
    assert unlearned.version != original.version and unlearned.removed_classes == ["ship"]
    admin_before = admin_requests(server_process.url)
    printed = AttackReport.model_validate_json(cli("attacker", "infer", "--run", run, env=attacker_env))
    assert admin_requests(server_process.url) == admin_before

    report = AttackReport.model_validate_json((tmp_path / "attack" / "report.json").read_bytes())
    assert printed == report  # stdout carries the report and nothing else
    check_golden("end-to-end", {"report": fingerprint(report)})
    assert report.versions.before == original.version and report.versions.after == unlearned.version
    assert report.ranking[0] == "ship", report.scores
    assert report.queries.total == report.queries.probing + 2 * 10
    assert (tmp_path / "attack" / "report-chart.png").stat().st_size > 10_000
    # the attacker's probes and snapshots are on disk with the versions they came from
    with np.load(tmp_path / "attack" / "snapshots" / f"{original.version}.npz") as z:
        assert z["probabilities"].shape == (10, 10)
    # nothing about the deletion reached the server
    store = server_process.store / "versions" / unlearned.version
    assert sorted(p.name for p in store.iterdir()) == ["metadata.json", "model.safetensors"]
    stored = json.loads((store / "metadata.json").read_text())
    assert stored["classes"].count("ship") == 1
    assert "ship" not in json.dumps(stored["training"])
    published = {k for k, v in stored["training"].items() if v is not None}
    assert published <= {"stage", "profile", "dataset", "seed", "regime", "test_accuracy"}, published
