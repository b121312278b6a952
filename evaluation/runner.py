"""One worker of the grid. It owns a real server process (its own store and admin token) and tells
cases to the real system: the developer's pipeline trains and unlearns, versions go up and are
deployed over the admin API, and the attacker's own code probes and snapshots over HTTP.

Only this side knows the truth (which classes a case removed); the attacker's code gets the
server's address and nothing else, and its report is scored afterwards.

Work comes in two kinds of task, chosen so that no two workers ever train the same checkpoint:
- `PrepareTask`: everything of one seed shared by its cases: the pretrained and original models,
  the public data D0 (for attackers given that capability) and every probe set with its snapshot
  of the original as served;
- `StoryTask`: one unlearned version (one seed, removal, p and method) and the cases that deploy
  it under their defenses.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from rich.console import Console

from attacker.analysis import analyse
from attacker.calibration import SHADOW_FILE, ShadowCalibration, ShadowConfig
from attacker.capabilities import CannotAttack, from_answers, from_model_info
from attacker.client import InferenceClient
from attacker.label_only import BOUNDARY_FILE, infer_boundaries, run_boundary
from attacker.natural_probes import make_natural_probes
from attacker.probes import ProbeSet
from attacker.probing import make_probes
from attacker.public_data import load_public_images
from attacker.settings import InferConfig
from attacker.shadow.calibrate import calibrate
from attacker.snapshots import load_snapshot, probe_digest, take_snapshot
from developer.factory import developer_from_settings
from developer.pipeline import Developer, TrainedVersion
from developer.push import push_version
from developer.settings import TrainingConfig
from devtools.processes import ServerProcess
from evaluation.grid import Case, OriginalKey, ProbeKey
from evaluation.results import CaseResult, ResultStore, case_id, outcomes
from shared.atomic import atomic_write, write_json
from shared.schemas import AttackReport, DeploymentOptions

REFUSAL_FILE = "refusal.json"
BOUNDARY_DIR = "boundary"  # the label-only attack's run, when probing was refused
QUIET = Console(file=io.StringIO(), stderr=False)  # the attacker's progress, not shown inside a grid


@dataclass(frozen=True)
class PrepareTask:
    seed: int
    probe_keys: tuple[ProbeKey, ...]


@dataclass(frozen=True)
class StoryTask:
    cases: tuple[Case, ...]  # one unlearned version, several deployments


class CaseRunner:
    def __init__(self, workdir: Path, threads: int | None = 1):
        self.workdir = Path(workdir)
        self.threads = threads
        self.store = ResultStore(self.workdir)
        self.server: ServerProcess | None = None
        self._server_dir: Path | None = None
        self._developers: dict[OriginalKey, Developer] = {}

    # ------------------------------------------------------------- the server this worker owns
    def _ensure_server(self) -> ServerProcess:
        if self.server is None:
            (self.workdir / "servers").mkdir(parents=True, exist_ok=True)
            self._server_dir = Path(tempfile.mkdtemp(prefix="server-", dir=self.workdir / "servers"))
            env = {"UIA_SERVER_TORCH_THREADS": str(self.threads)} if self.threads else {}
            self.server = ServerProcess(self._server_dir / "store", token=secrets.token_hex(16), extra_env=env)
            self.server.start(timeout=120)
            atexit.register(self.stop)
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self._server_dir is not None:
            shutil.rmtree(self._server_dir, ignore_errors=True)
            self._server_dir = None

    def _deploy(self, version: TrainedVersion, options: DeploymentOptions) -> None:
        server = self._ensure_server()
        push_version(version.path, server.url, server.token, deploy=False)  # identical re-uploads are no-ops
        with server.admin() as admin:
            admin.put("/admin/deployment", json={"version": version.version, "options": options.model_dump()}
                      ).raise_for_status()

    def _client(self) -> InferenceClient:
        return InferenceClient(self._ensure_server().url)

    # ------------------------------------------------------------- the developer's side
    def developer(self, key: OriginalKey) -> Developer:
        if key not in self._developers:
            self._developers[key] = developer_from_settings(TrainingConfig(
                workdir=self.workdir / "developer", profile=key.profile, regime=key.regime, seed=key.seed,
                width=key.width, pretrain_epochs=key.pretrain_epochs, train_limit=key.train_limit,
                test_limit=key.test_limit, threads=self.threads))
        return self._developers[key]

    def public_data(self, key: OriginalKey) -> Path:
        """D0 of this seed as the attacker would hold it (public in the threat model; never D_u)."""
        dev = self.developer(key)
        digest = hashlib.sha256(dev.data.model_dump_json().encode()).hexdigest()[:12]
        path = self.workdir / "public" / f"d0-{digest}.npz"
        if not path.exists():
            dev.export_public(path)
        return path

    # ------------------------------------------------------------- tasks
    def do(self, task: PrepareTask | StoryTask) -> list[CaseResult]:
        if self.threads:
            os.environ.setdefault("TQDM_DISABLE", "1")
        if isinstance(task, PrepareTask):
            for key in task.probe_keys:
                self.prepare(key)
            return []
        return self.story(list(task.cases))

    def probe_dir(self, key: ProbeKey) -> Path:
        return self.workdir / "probes" / key.digest()

    def prepare(self, key: ProbeKey) -> None:
        """The probe set of `key`, its snapshot of the original as served, and (if the attacker is
        given shadow models) its shadow calibration; resumes whatever is missing. When the served
        outputs leave nothing to probe with, the refusal is recorded, and for labels-only outputs
        the attacker's boundary-distance attack measures the original instead."""
        run = self.probe_dir(key)
        if (run / REFUSAL_FILE).exists():
            return
        original = self.developer(key.original).finetune()
        cfg = key.probes
        if not _has_snapshot(run, original.version):
            self._deploy(original, key.served)
            with self._client() as client:
                try:
                    if cfg.kind == "natural":
                        public = load_public_images(self.public_data(key.original), limit=cfg.public_pool,
                                                    seed=cfg.seed)
                        probe_set = make_natural_probes(client, run, public, cfg.per_class, cfg.seed, QUIET)
                    else:
                        probe_set = make_probes(client, run, cfg.optimizer(), cfg.per_class, cfg.seed, None, QUIET)
                    if len(probe_set.accepted()[0]) == 0:
                        raise CannotAttack("no probe reached the threshold")
                    take_snapshot(client, probe_set)
                except CannotAttack as exc:  # labels only, top-1, or no accepted probe
                    out = client.model_info().output
                    if out.label_only or (out.top_k is not None and out.top_k < 2):  # labels remain
                        shutil.rmtree(run / BOUNDARY_DIR, ignore_errors=True)  # a partial one
                        run_boundary(client, run / BOUNDARY_DIR, {"seed": cfg.seed}, self._public(key), False,
                                     lambda _: None)
                    write_json(run / REFUSAL_FILE, {"reason": str(exc)})  # last: the preparation is complete
                    return
        if cfg.shadow is not None and not (run / SHADOW_FILE).exists():
            probe_set = ProbeSet.load(run)
            images, targets = probe_set.accepted()
            public = load_public_images(self.public_data(key.original), tuple(probe_set.config.input_shape))
            shadow = calibrate(public, images, targets, probe_set.classes, ShadowConfig(**cfg.shadow))
            atomic_write(run / SHADOW_FILE, shadow.model_dump_json().encode())

    def story(self, cases: list[Case]) -> list[CaseResult]:
        first = cases[0]
        dev = self.developer(first.original)
        start = time.perf_counter()
        original = dev.finetune()
        forget = dev.forget_set([(dev.class_index(name), first.proportion) for name in first.classes])
        unlearned = dev.unlearn(forget, first.unlearning())
        shared_seconds = time.perf_counter() - start
        results = []
        for case in cases:
            if self.store.get(case) is None:
                result = self.attack(case, original, unlearned, shared_seconds / len(cases))
                self.store.put(result)
                results.append(result)
        return results

    def attack(self, case: Case, original: TrainedVersion, unlearned: TrainedVersion,
               training_seconds: float) -> CaseResult:
        start = time.perf_counter()
        dev = self.developer(case.original)
        accuracy_original = self.served_accuracy(dev, original, case.defense.before)
        self._deploy(unlearned, case.defense.after)
        accuracy_served = self.served_accuracy(dev, unlearned, case.defense.after)
        run = self.probe_dir(case.probe_key)
        common = dict(case_id=case_id(case), case=case, truth=list(case.classes), original_version=original.version,
                      unlearned_version=unlearned.version, accuracy_original=accuracy_original,
                      accuracy_served=accuracy_served)
        if (run / REFUSAL_FILE).exists():
            reason = json.loads((run / REFUSAL_FILE).read_text())["reason"]
            report = self.label_only_attack(run / BOUNDARY_DIR, case, original, unlearned)
            return CaseResult(**common, refusal=reason, report=report,
                              outcomes=outcomes(report, case.classes) if report else {},
                              queries=report.queries.total if report else 0,
                              wall_seconds=round(time.perf_counter() - start + training_seconds, 2))
        probe_set = ProbeSet.load(run)
        before = load_snapshot(run, original.version)
        # the after snapshot lives with the case: one version answers differently under each defense
        case_run = self.workdir / "attacks" / case_id(case)
        with self._client() as client:
            after = take_snapshot(client, replace(probe_set, run_dir=case_run))
            caps = from_model_info(client.model_info())
        for snapshot in (before, after):
            caps = from_answers(snapshot.probabilities, caps)
        shadow = None
        if case.probes.shadow is not None:
            shadow = ShadowCalibration.model_validate_json((run / SHADOW_FILE).read_text())
        report = analyse(probe_set, before, after, case.statistic, None, caps, shadow)
        report = report.model_copy(update={"wall_seconds": round(time.perf_counter() - start, 1)})
        atomic_write(case_run / "report.json", report.model_dump_json(indent=1).encode())
        return CaseResult(**common, report=report, outcomes=outcomes(report, case.classes),
                          queries=report.queries.total,
                          wall_seconds=round(time.perf_counter() - start + training_seconds, 2))

    def label_only_attack(self, run: Path, case: Case, original: TrainedVersion,
                          unlearned: TrainedVersion) -> AttackReport | None:
        """When probing was refused for label-only outputs: the boundary-distance attack
        (attacker/label_only.py), its inputs chosen on the original; None when it had none."""
        if not (run / BOUNDARY_FILE).exists():
            return None
        # the case's own copy (hard links): one version is measured differently under each defense
        case_run = self.workdir / "attacks" / case_id(case) / BOUNDARY_DIR
        shutil.rmtree(case_run, ignore_errors=True)
        shutil.copytree(run, case_run, copy_function=os.link)
        with self._client() as client:  # the unlearned version is deployed under the case's options
            run_boundary(client, case_run, {"seed": case.probes.seed}, self._public(case.probe_key), False,
                         lambda _: None)
            return infer_boundaries(client, case_run, InferConfig(before=original.version, after=unlearned.version),
                                    [], lambda _: None)

    def _public(self, key: ProbeKey) -> Path | None:
        """The public data, only for an attacker given that capability."""
        return self.public_data(key.original) if "public data" in key.probes.capabilities() else None

    def served_accuracy(self, dev: Developer, version: TrainedVersion, options: DeploymentOptions) -> float:
        """Test accuracy of `version` as the API serves it under `options` (cached). Served as
        uploaded (no option), the model is the developer's own, measured on the same test set."""
        if options == DeploymentOptions() and version.meta.training.test_accuracy is not None:
            return version.meta.training.test_accuracy
        path = self.workdir / "accuracy" / f"{version.version}-{_options_digest(options)}.json"
        if path.exists():
            return json.loads(path.read_text())["accuracy"]
        self._deploy(version, options)
        ds = dev.splits.dataset
        images = np.ascontiguousarray(ds.test_x[dev.splits.test].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        with self._client() as client:
            probabilities, _ = client.predict(images)
        accuracy = float((probabilities.argmax(1) == ds.test_y[dev.splits.test]).mean())
        write_json(path, {"version": version.version, "options": options.model_dump(), "accuracy": accuracy})
        return accuracy


def _has_snapshot(run: Path, version: str) -> bool:
    try:
        snapshot = load_snapshot(run, version)
        return snapshot.probe_digest == probe_digest(ProbeSet.load(run).accepted()[0])
    except FileNotFoundError:
        return False


def _options_digest(options: DeploymentOptions) -> str:
    return hashlib.sha256(options.model_dump_json().encode()).hexdigest()[:12]
