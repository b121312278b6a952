"""The evaluation grid on a Ray cluster of containers (profile grid), run and checked (`make test-compose`).

`compose --profile grid up --exit-code-from grid grid` starts a Ray head and two workers from the
grid image, and the driver runs `python -m evaluation evaluation/configs/tiny.toml --executor ray
--workers 2` with RAY_ADDRESS naming the head: the command any Ray cluster runs. Checks: the
command exits 0 with the grid's summary line last on the driver's stdout; every case's result is in
the shared work directory and the positives reproduce the reference results of the local grid
(tests/golden/tiny-grid.json: rankings and query counts; the null updates beside them are not in
it, and the driver itself fails when any case has no result); the grid's actors ran on both workers.
"""

from __future__ import annotations

import io
import json
import re
import tarfile

from attacker import raw_ranking
from devtools.compose_project import CheckFailed, Project, log
from devtools.processes import ROOT
from shared.schemas import AttackReport

GOLDEN = ROOT / "tests" / "golden" / "tiny-grid.json"
WORKDIR = "/app/runs/evaluation"  # python -m evaluation's default --workdir in the grid image
RAY_LOGS = "/tmp/ray/session_latest/logs"
WORKERS = 2


def files_in(container, path: str) -> dict[str, bytes]:
    """The regular files under `path` in a (stopped) container, volumes included: name -> content."""
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def reports_by_case(project: Project) -> dict[str, AttackReport]:
    results = {name: json.loads(data) for name, data in files_in(project.container("grid"), WORKDIR).items()
               if re.fullmatch(r"evaluation/cases/[0-9a-f]+\.json", name)}
    return {label(r["case"]): AttackReport.model_validate(r["report"]) for r in results.values()}


def label(case: dict) -> str:
    """evaluation.grid.Case.label() of a stored case (the golden file's keys)."""
    return (f"{case['original']['regime']} seed {case['original']['seed']} {'+'.join(case['classes'])} "
            f"p={case['proportion']:g} {case['method']} {case['defense']['name']}")


def check_reference_results(project: Project) -> int:
    golden = json.loads(GOLDEN.read_text())
    reports = reports_by_case(project)
    missing = sorted(set(golden) - set(reports))  # the grid's null updates are beside them, not in the reference
    if missing:
        raise CheckFailed(f"the grid computed no result for {missing} (it computed {sorted(reports)})")
    for name, expected in golden.items():
        report = reports[name]
        # the raw ranking, as the reference records it (the report's own depends on the history null)
        got = {"ranking": raw_ranking(report),
               "queries": [report.queries.probing, report.queries.snapshot_before, report.queries.snapshot_after]}
        if got != {"ranking": expected["ranking"], "queries": expected["queries"]}:
            raise CheckFailed(f"{name}: the grid on Ray gave {got}, the reference {expected['ranking']} with "
                              f"queries {expected['queries']}")
    return len(golden)


def check_actors_on_workers(project: Project) -> None:
    """Each worker ran grid actors (Ray names an actor's log with its class); the head, none."""
    workers = project.containers("ray-worker")
    if len(workers) != WORKERS:
        raise CheckFailed(f"{len(workers)} Ray workers ran, not {WORKERS}")
    for container in [*workers, project.container("ray-head")]:
        logs = files_in(container, RAY_LOGS)
        actors = sum(b":actor_name:CaseRunner" in data for name, data in logs.items() if "/worker-" in name)
        is_worker = container in workers
        if is_worker != (actors > 0):
            raise CheckFailed(f"{container.name} ran {actors} grid actors")
    log(f"the grid's actors ran on the {WORKERS} workers, none on the head")


def run_grid(project: Project) -> str:
    code = project.run("up", "--exit-code-from", "grid", "grid", expect=None)
    summary = project.container("grid").logs(stderr=False).decode().strip().splitlines()
    if code != 0 or not summary or not summary[-1].startswith("top1_p_ge_0.1="):
        raise CheckFailed(f"the grid on Ray exited with status {code}, last line {summary[-1:] or 'none'}")
    cases = check_reference_results(project)
    check_actors_on_workers(project)
    log(f"grid on Ray: {cases} cases as the local grid computes them; {summary[-1]}")
    return summary[-1]
