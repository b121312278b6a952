"""One worker of the grid. It tells cases to the real system: the developer's pipeline trains and
unlearns, versions go up to the worker's own server process and are deployed over the admin API,
and the attacker's library (attacker/api.py) probes, observes and infers over HTTP — the same
calls `python -m attacker` makes.

Only this side knows the truth (which classes a case removed); the attacker gets the server's
address (and, where the grid grants it, the public data) and nothing else, and its report is
scored afterwards.

Work comes in two kinds of task, chosen so that no two workers ever train the same checkpoint:
- `PrepareTask`: everything of one seed shared by its cases: the pretrained and original models,
  the public data D0 (for attackers given that capability), every probe set with its snapshot
  of the original as served, and the history each case's attacker has watched: the grid's null
  updates of that original (ordinary deletions of random samples, retrains with nothing
  deleted), deployed one after another and observed on the same probes (`HistoryTask`);
- `StoryTask`: one unlearned version (one seed, removal, p and method) and the cases that deploy
  it under their defenses.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from attacker import Campaign, CannotAttack
from developer.pipeline import TrainedVersion
from evaluation.accuracy import served_accuracy
from evaluation.developers import Developers
from evaluation.grid import Case, HistoryKey, ProbeKey
from evaluation.results import CaseResult, ResultStore, case_id, outcomes
from evaluation.white_box import white_box
from evaluation.worker_server import WorkerServer
from shared.atomic import atomic_write, write_json
from shared.schemas import BoundaryParams

REFUSAL_FILE = "refusal.json"
QUIET = Console(file=io.StringIO(), stderr=False)  # the attacker's progress, not shown inside a grid


@dataclass(frozen=True)
class HistoryTask:
    key: HistoryKey
    updates: tuple[Case, ...]  # one null case per version the attacker watched


@dataclass(frozen=True)
class PrepareTask:
    seed: int
    probe_keys: tuple[ProbeKey, ...]
    histories: tuple[HistoryTask, ...] = ()


@dataclass(frozen=True)
class StoryTask:
    cases: tuple[Case, ...]  # one unlearned version, several deployments


class CaseRunner:
    def __init__(self, workdir: Path, threads: int | None = 1):
        self.workdir = Path(workdir)
        self.threads = threads
        self.store = ResultStore(self.workdir)
        self.server = WorkerServer(self.workdir, threads)
        self.developer = Developers(self.workdir, threads)

    def stop(self) -> None:
        self.server.stop()

    def do(self, task: PrepareTask | StoryTask) -> list[CaseResult]:
        if self.threads:
            os.environ.setdefault("TQDM_DISABLE", "1")
        if isinstance(task, PrepareTask):
            for key in task.probe_keys:
                self.prepare(key)
            for history in task.histories:
                self.watch(history)
            return []
        return self.story(list(task.cases))

    # ------------------------------------------------------------- the attacker's run of a probe key
    def probe_dir(self, key: ProbeKey) -> Path:
        return self.workdir / "probes" / key.digest()

    def campaign(self, key: ProbeKey, run: Path | None = None, client=None) -> Campaign:
        """The attacker's campaign for `key`, holding the public data only where the grid grants it."""
        public = self.developer.public_data(key.original) if "public data" in key.prober.capabilities() else None
        return Campaign(client or self.server.client(), run or self.probe_dir(key), public_data=public, console=QUIET)

    def prepare(self, key: ProbeKey) -> None:
        """The probe set of `key`, its snapshot of the original as served, and (if the attacker is
        given shadow models) its shadow calibration; resumes whatever is missing. When the served
        outputs leave nothing to probe with, the refusal is recorded, and for labels-only outputs
        the attacker's label-only attack measures the original instead."""
        run = self.probe_dir(key)
        if (run / REFUSAL_FILE).exists():
            return
        original = self.developer(key.original).finetune()
        with self.server.client() as client:
            campaign = self.campaign(key, client=client)
            if not campaign.has_snapshot(original.version):
                self.server.deploy(original, key.served)
                try:
                    campaign.make_probes(key.prober.probes)
                except CannotAttack as exc:  # labels only, top-1, or no accepted probe
                    if campaign.capabilities().labels_only:
                        campaign.measure_boundaries(BoundaryParams(seed=key.prober.probes.seed), fresh=True)
                    write_json(run / REFUSAL_FILE, {"reason": str(exc)})  # last: the preparation is complete
                    return
        if key.prober.shadow is not None and not (run / "shadow.json").exists():
            from attacker.shadow import calibrate_run  # torch: only for an attacker granted shadow models

            calibrate_run(run, self.developer.public_data(key.original), key.prober.shadow)

    def history_dir(self, key: HistoryKey) -> Path:
        return self.workdir / "history" / key.digest()

    def watch(self, task: HistoryTask) -> None:
        """The history of `task.key`: its probe run, with every null version of its original
        observed on it as served then (the key's served options); resumes what is missing."""
        run, done = self.history_dir(task.key), self.history_dir(task.key) / "complete.json"
        probes = self.probe_dir(task.key.probe)
        if done.exists() or ((probes / REFUSAL_FILE).exists() and not (probes / "boundary.json").exists()):
            return  # watched already, or nothing to watch with
        with self.server.client() as client:
            campaign = self.campaign(task.key.probe, run, client) if run.exists() else \
                self.campaign(task.key.probe, client=client).fork(run)
            for case in task.updates:
                self.server.deploy(self.developer.unlearned(case), task.key.probe.served)
                campaign.observe()
        write_json(done, {"versions": len(task.updates)})

    # ------------------------------------------------------------- the stories
    def story(self, cases: list[Case]) -> list[CaseResult]:
        first = cases[0]
        dev = self.developer(first.original)
        start = time.perf_counter()
        original = dev.finetune()
        unlearned = self.developer.unlearned(first)
        ceiling = white_box(original, unlearned, list(first.classes))  # the operator's view, for comparison
        shared_seconds = time.perf_counter() - start
        results = []
        for case in cases:
            if self.store.get(case) is None:
                result = self.attack(case, original, unlearned, shared_seconds / len(cases))
                result = result.model_copy(update={"white_box": ceiling})
                self.store.put(result)
                results.append(result)
        return results

    def attack(self, case: Case, original: TrainedVersion, unlearned: TrainedVersion,
               training_seconds: float) -> CaseResult:
        """Deploy the unlearned version under the case's defense and let the attacker compare it
        with the original, on a copy of the probe key's run (one version answers differently
        under each defense, so each case observes it in its own run)."""
        start = time.perf_counter()
        dev = self.developer(case.original)
        accuracy = self.workdir / "accuracy"
        accuracy_original = served_accuracy(self.server, dev, original, case.defense.before, accuracy)
        self.server.deploy(unlearned, case.defense.after)
        accuracy_served = served_accuracy(self.server, dev, unlearned, case.defense.after, accuracy)
        run = self.probe_dir(case.probe_key)
        refusal = json.loads((run / REFUSAL_FILE).read_text())["reason"] if (run / REFUSAL_FILE).exists() else None
        watched = self.history_dir(case.history_key)
        report = None
        with self.server.client() as client:
            campaign = self.campaign(case.probe_key, watched if watched.exists() else run, client)
            if refusal is None or campaign.uses_boundaries():
                case_run = campaign.fork(self.workdir / "attacks" / case_id(case))
                case_run.forget(unlearned.version)  # a null watched before: observed again, as served now
                report = case_run.infer(case.attacker.infer_config(original.version, unlearned.version))
                atomic_write(case_run.run / "report.json", report.model_dump_json(indent=1).encode())
        return CaseResult(case_id=case_id(case), case=case, truth=list(case.classes), original_version=original.version,
                          unlearned_version=unlearned.version, accuracy_original=accuracy_original,
                          accuracy_served=accuracy_served, refusal=refusal, report=report,
                          outcomes=outcomes(report, case.classes, case.attacker.rule), queries=report.queries.total if report else 0,
                          wall_seconds=round(time.perf_counter() - start + training_seconds, 2))
