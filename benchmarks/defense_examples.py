"""`make bench-defenses`: one measured example per server-side defense.

For each deployment option: the test accuracy of the original model as served (utility), and
what the black-box attack makes of it — the real attacker CLI probing through the defended API,
then inferring after the unlearned model is deployed with the same option.

Scenario: cpu profile, paper-code regime, exact unlearning of 0.5 of class 'cat'; the attacker
makes 2 probes per class (NES, p_c >= 0.9995, at most 20,000 queries per probe) and ranks with
the log-odds statistic.
This is an example per option, not an evaluation: one class, one seed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from attacker.results import ProbingResult, Refusal
from developer.results import VersionResult
from devtools.processes import ROOT, ServerProcess
from shared.data import load_dataset
from shared.schemas import AttackReport

OPTIONS = {
    "none": {},
    "prune 0.2": {"prune_rate": 0.2},
    "prune 0.5": {"prune_rate": 0.5},
    "prune 0.9": {"prune_rate": 0.9},
    "top-k 3": {"top_k": 3},
    "round 3 decimals": {"round_decimals": 3},
    "label only": {"label_only": True},
}


def program_env(**settings: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("UIA_")}, "TQDM_DISABLE": "1", **settings}


def cli(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True, capture_output=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr[-2000:]}")
    return result


def served_accuracy(url: str, images: np.ndarray, labels: np.ndarray) -> float:
    correct = 0
    with httpx.Client(base_url=url, timeout=300) as http:
        for lo in range(0, len(images), 2048):
            x = images[lo:lo + 2048]
            r = http.post("/v1/predict", content=x.tobytes(), headers={
                "content-type": "application/octet-stream", "accept": "application/octet-stream",
                "x-batch-shape": ",".join(map(str, x.shape))})
            r.raise_for_status()
            probs = np.frombuffer(r.content, "<f8").reshape(len(x), -1)
            correct += int((probs.argmax(1) == labels[lo:lo + 2048]).sum())
    return correct / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "defenses")
    parser.add_argument("--options", nargs="*", default=list(OPTIONS), choices=list(OPTIONS))
    args = parser.parse_args()

    dataset = load_dataset()
    test_x = (dataset.test_x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0).copy()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "store", token="bench-token").start()
        developer_env = program_env(UIA_DEVELOPER_SERVER_URL=server.url, UIA_DEVELOPER_SERVER_TOKEN="bench-token")
        attacker_env = program_env(UIA_ATTACKER_SERVER_URL=server.url)
        dev = ["--workdir", str(args.workdir / "developer")]
        try:
            original = VersionResult.model_validate_json(
                cli("developer", "finetune", *dev, "--push", "--no-deploy", env=developer_env).stdout)
            unlearned = VersionResult.model_validate_json(
                cli("developer", "unlearn", *dev, "--class", "cat", "--proportion", "0.5", "--push", "--no-deploy",
                    env=developer_env).stdout)
            rows = []
            admin = server.admin()
            for name in args.options:
                options = OPTIONS[name]
                admin.put("/admin/deployment", json={"version": original.version, "options": options}
                          ).raise_for_status()
                accuracy = served_accuracy(server.url, test_x, dataset.test_y)
                run = args.workdir / "attack" / name.replace(" ", "-")
                start = time.perf_counter()
                probe = cli("attacker", "probe", "--run", str(run), "--per-class", "2", "--method", "nes",
                            "--max-queries", "20000", "--fresh", env=attacker_env, check=False)
                admin.put("/admin/deployment", json={"version": unlearned.version, "options": options}
                          ).raise_for_status()
                infer = cli("attacker", "infer", "--run", str(run), "--statistic", "logodds", env=attacker_env,
                            check=False)
                seconds = time.perf_counter() - start
                # every program's stdout is its typed result: probing, the report, or a refusal
                probed = ProbingResult.model_validate_json(probe.stdout) if probe.returncode == 0 else None
                accepted = probed.accepted if probed else 0
                report = AttackReport.model_validate_json(infer.stdout) if infer.returncode in (0, 3) else None
                if probe.returncode == 3:
                    outcome = "refused: " + Refusal.model_validate_json(probe.stdout).reason
                elif report is not None and report.rankable:
                    outcome = (f"rank of cat: {report.ranking.index('cat') + 1} (top: {report.ranking[0]}, "
                               f"confidence {report.confidence.label})")
                elif report is not None:
                    outcome = "no ranking: " + report.reason
                else:
                    outcome = "failed: " + (infer.stderr.strip().splitlines() or ["?"])[-1][:100]
                queries = report.queries.total if report else None
                rows.append((name, accuracy, accepted, queries, outcome, seconds))
                print(f"{name}: accuracy {accuracy:.4f}, {accepted}/20 probes accepted, {outcome}", flush=True)
            admin.close()
        finally:
            server.stop()
    print("\n| deployment option | test accuracy (served) | probes accepted | queries | attack | time |")
    print("|---|---|---|---|---|---|")
    for name, accuracy, accepted, queries, outcome, seconds in rows:
        q = f"{queries:,}" if queries else "–"
        print(f"| {name} | {accuracy:.4f} | {accepted}/20 | {q} | {outcome} | {seconds:.0f} s |")


if __name__ == "__main__":
    main()
