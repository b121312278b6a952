"""The whole story, offline on the CPU: `make demo`.

Three separate programs that talk only HTTP:

1. the server starts with an empty model store;
2. the developer pretrains on D0, fine-tunes on D_u (the original model) and deploys it;
3. the attacker makes probes for every class against it (query-efficient NES) and records its answers;
4. the attacker starts waiting for a new version; the developer receives a deletion request,
   unlearns (exact: retrains without X) and deploys the unlearned model;
5. the attacker notices, records the new answers, and ranks the classes.

The truth (which class was removed) stays with this script and the developer; the attacker
never sees it, and its environment holds nothing but the server's public address (no admin
token). Each program prints its machine-readable result on stdout; this script reads those
(and the attacker's report.json) as typed results. The last line prints both the truth and the
ranking. Exit status 0 means the whole story ran.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from developer.results import VersionResult
from devtools.processes import ROOT, ServerProcess, stop_process
from shared.schemas import AttackReport


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(cmd: list[str], env: dict) -> str:
    """Run a program; its stdout is its JSON result, its progress goes to our stderr."""
    print("$ " + " ".join(cmd[1:] if cmd[0] == sys.executable else cmd), flush=True)
    return subprocess.run(cmd, env=env, cwd=ROOT, check=True, text=True, stdout=subprocess.PIPE).stdout


def program_env(**settings: str) -> dict:
    """This process's environment without any UIA_* setting, plus the program's own."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("UIA_")}, "PYTHONUNBUFFERED": "1",
            **settings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--class", dest="cls", default="cat", help="class to unlearn from (default %(default)s)")
    parser.add_argument("--proportion", type=float, default=0.5, help="proportion of it to remove (default 0.5)")
    parser.add_argument("--regime", default="paper-code", help="fine-tuning regime (default %(default)s)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, default=4, help="probes per class (paper: 20; demo: 4)")
    parser.add_argument("--threshold", type=float, default=0.9995, help="probe acceptance (the paper's 0.9995)")
    parser.add_argument("--method", default="nes", help="probe optimiser: nes (default) or zoo (the paper's)")
    parser.add_argument("--statistic", default="logodds", help="beta (the paper's), logodds (default), logit, zlogit")
    parser.add_argument("--workdir", type=Path, default=Path("runs/demo"))
    parser.add_argument("--developer-args", default="", help="extra arguments for every developer command")
    args = parser.parse_args()

    started = time.perf_counter()
    workdir = (ROOT / args.workdir).resolve()
    store, attack_run = workdir / "server-store", workdir / "attacker"
    shutil.rmtree(store, ignore_errors=True)  # a fresh server and attacker every time;
    shutil.rmtree(attack_run, ignore_errors=True)  # the developer keeps its checkpoint cache
    token = secrets.token_urlsafe(24)
    server = ServerProcess(store, token, {"PYTHONUNBUFFERED": "1"})
    developer_env = program_env(UIA_DEVELOPER_SERVER_URL=server.url, UIA_DEVELOPER_SERVER_TOKEN=token)
    attacker_env = program_env(UIA_ATTACKER_SERVER_URL=server.url)  # the public API, nothing else
    py = sys.executable
    dev_common = ["--workdir", str(workdir / "developer"), "--profile", args.profile, "--regime", args.regime,
                  "--seed", str(args.seed), *args.developer_args.split()]
    waiter = None
    try:
        step(f"server: starting on {server.url}")
        server.start()

        step("developer: pretrain on D0, fine-tune on D_u, deploy the original model")
        original = VersionResult.model_validate_json(
            run([py, "-m", "developer", "finetune", *dev_common, "--push"], developer_env))
        print(f"original model {original.version}: test accuracy {original.test_accuracy}")

        step("attacker: probes for every class, then a snapshot of the original model")
        run([py, "-m", "attacker", "probe", "--run", str(attack_run), "--per-class", str(args.per_class),
             "--threshold", str(args.threshold), "--seed", str(args.seed), "--method", args.method, "--fresh"],
            attacker_env)

        step("attacker: waiting for the model to change (in the background)")
        waiter = subprocess.Popen([py, "-m", "attacker", "infer", "--run", str(attack_run), "--wait", "--poll", "1",
                                   "--wait-timeout", "900", "--statistic", args.statistic], cwd=ROOT, env=attacker_env,
                                  stdout=subprocess.DEVNULL)  # its result is report.json

        step(f"developer: deletion request: {args.proportion:g} of class '{args.cls}'; exact unlearning, deploy")
        unlearned = VersionResult.model_validate_json(run(
            [py, "-m", "developer", "unlearn", *dev_common, "--class", args.cls, "--proportion", str(args.proportion),
             "--push"], developer_env))
        print(f"unlearned model {unlearned.version}: test accuracy {unlearned.test_accuracy}")

        step("attacker: sees the new version, snapshots it, infers")
        if waiter.wait(timeout=900) not in (0, 3):  # 3: it ran, but the outputs allowed no ranking
            raise RuntimeError(f"the attacker failed with status {waiter.returncode}")
        report = AttackReport.model_validate_json((attack_run / "report.json").read_bytes())
    except (subprocess.CalledProcessError, RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_process(waiter)
        server.stop()

    print(f"\nreport: {attack_run / 'report.json'}\nchart:  {attack_run / 'report-chart.png'}")
    print(f"queries: {report.queries.total:,} (probing {report.queries.probing:,}); "
          f"demo wall time {time.perf_counter() - started:.0f} s")
    if not report.rankable:
        inferred = f"nothing ({report.reason})"
    else:
        named = ", ".join(report.inferred) or "no class stands out"
        inferred = f"{named} (confidence {report.confidence.label}; ranking {', '.join(report.ranking)})"
    print(f"removed: {', '.join(unlearned.removed_classes)} inferred: {inferred}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
