"""The whole story through the real CLIs and a real server process, at toy size."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

TINY = ["--train-limit", "6000", "--test-limit", "500", "--pretrain-epochs", "2", "--width", "8", "--threads", "2"]


def cli(*args: str, env: dict) -> str:
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True, capture_output=True,
                            timeout=600)
    assert result.returncode == 0, f"{' '.join(args[:2])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def last_json(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def test_attacker_names_the_class_removed_in_large_proportion(server_process, tmp_path):
    env = {**os.environ, "UIA_SERVER_URL": server_process.url, "UIA_ADMIN_TOKEN": server_process.token,
           "TQDM_DISABLE": "1"}
    workdir, run = str(tmp_path / "developer"), str(tmp_path / "attack")

    original = last_json(cli("developer", "finetune", "--workdir", workdir, *TINY, "--push", env=env))
    cli("attacker", "probe", "--run", run, "--per-class", "1", "--threshold", "0.99", "--early-accept", env=env)
    unlearned = last_json(cli("developer", "unlearn", "--workdir", workdir, *TINY, "--class", "ship",
                              "--proportion", "1.0", "--push", env=env))
    assert unlearned["version"] != original["version"]
    cli("attacker", "infer", "--run", run, env=env)

    report = json.loads((tmp_path / "attack" / "report.json").read_text())
    assert report["versions"] == {"before": original["version"], "after": unlearned["version"]}
    assert report["ranking"][0] == "ship", report["beta"]
    assert report["queries"]["total"] == report["queries"]["probing"] + 2 * 10
    assert (tmp_path / "attack" / "report-chart.png").stat().st_size > 10_000
    # the attacker's probes and snapshots are on disk with the versions they came from
    with np.load(tmp_path / "attack" / "snapshots" / f"{original['version']}.npz") as z:
        assert z["probabilities"].shape == (10, 10)
    # nothing about the deletion reached the server
    store = server_process.store / "versions" / unlearned["version"]
    assert sorted(p.name for p in store.iterdir()) == ["metadata.json", "model.safetensors"]
    stored = json.loads((store / "metadata.json").read_text())
    assert stored["classes"].count("ship") == 1
    assert "ship" not in json.dumps(stored["training"])
    assert not {"proportion", "sample_ids", "removed", "targets"} & set(stored["training"])
