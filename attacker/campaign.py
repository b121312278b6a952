"""The attacker's front door: one campaign against one service, kept in one run directory.

    campaign = Campaign(client, Path("runs/attack"))
    campaign.make_probes(ProbeSpec(method=NESParams(), per_class=10))  # probes, and the answers of the
                                                                       # version probed
    ...                                                                # the service unlearns, redeploys
    report = campaign.infer(InferConfig(wait=True))                    # the new version's answers, ranked

Three steps — make a probe set, observe a version, infer from two observations — each taking a
typed configuration and returning a typed result, or raising `CannotAttack` when the served
outputs carry nothing the attack can use (a `ValueError` says what else was wrong). Every other
version the run has observed is history: the null model a class's change is measured against
(attacker/nulls.py). `python -m
attacker` and the evaluation harness are two thin front ends over them. Everything measured stays
in the run directory, so every step resumes, and the versions compared are always observed on
the same probes (or, for a label-only run, the same inputs and directions):

    probes.npz, probing.json          the probe set (attacker/probes.py)
    snapshots/<version>.{npz,json}    each observed version's answers to it (attacker/snapshots.py)
    boundary.json, boundary-inputs.npz, boundaries/<version>.*    a label-only run (attacker/label_only/)
    shadow.json                       the opt-in shadow calibration (attacker/calibration.py)
    report.{json,md}, report-chart.png    written by `publish`

Whether a run is compared by its probes or by boundary distances is decided here and nowhere else
(`uses_boundaries`): by distances when it has them and its probes cannot be used.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from rich.console import Console

from attacker.analysis import analyse
from attacker.calibration import SHADOW_FILE, ShadowCalibration
from attacker.capabilities import Capabilities, CannotAttack, from_answers, from_model_info, labels_only_note
from attacker.client import InferenceClient
from attacker.inference import class_scores
from attacker.label_only.attack import (analyse_boundaries, boundary_scores, ensure_measurement, measure_served,
                                        open_boundary_set)
from attacker.label_only.store import BoundarySet, remove_boundary_set
from attacker.nulls import MIN_HISTORY, NullModel, history_null, resample_null, shadow_null
from attacker.probe_config import ProbeSetConfig, ProbeSpec
from attacker.probe_methods import probe_method
from attacker.probes import PROBES_FILE, PROBING_FILE, ProbeSet, StaleProbes
from attacker.public_data import load_public_images
from attacker.report import print_ranking, write_report
from attacker.results import BoundaryResult, ProbingResult, SnapshotResult
from attacker.settings import InferConfig
from attacker.snapshots import Snapshot, list_snapshots, load_snapshot, probe_digest, snapshot_paths, take_snapshot
from shared.classes import class_index
from shared.schemas import AttackReport, BoundaryParams, ModelInfo

Restart = Literal["never", "stale", "always"]
Observation = TypeVar("Observation")
REPORT_FILES = ("report.json", "report.md", "report-chart.png")


class Campaign:
    def __init__(self, client: InferenceClient, run: Path, *, public_data: Path | None = None,
                 console: Console | None = None):
        self.client, self.run, self.public_data = client, Path(run), public_data
        self.console = console or Console(stderr=True)

    def capabilities(self) -> Capabilities:
        """What the served output format leaves the attack (attacker/capabilities.py)."""
        return from_model_info(self.client.model_info())

    # ------------------------------------------------------------- making probes
    def make_probes(self, spec: ProbeSpec, classes: list[str] | None = None, restart: Restart = "never") -> ProbingResult:
        """Make (or resume) the run's probe set against the version served, then record that
        version's answers to it. `restart`: what to do with probes made on another version or with
        other settings: refuse them (a `StaleProbes` error), replace them when `stale`, or always."""
        if restart == "always":
            self.discard_probes()
        try:
            return self._make_probes(spec, classes)
        except StaleProbes as exc:
            if restart != "stale":
                raise
            self.console.print(f"[yellow]{exc}: discarding them and starting again (--restart stale)[/]")
            self.discard_probes()
            return self._make_probes(spec, classes)

    def _make_probes(self, spec: ProbeSpec, classes: list[str] | None) -> ProbingResult:
        info = self.client.model_info()
        caps = from_model_info(info)
        if not caps.can_probe:
            raise CannotAttack("; ".join(caps.notes))
        for note in caps.notes:
            self.console.print(f"[yellow]note:[/] {note}")
        maker = probe_method(spec.method)
        public = None
        if maker.needs_public_data:
            if self.public_data is None:
                raise ValueError(f"--method {spec.method.name} needs the public-data capability: pass --public-data")
            public = load_public_images(self.public_data, info.input_shape, limit=spec.method.pool, seed=spec.seed)
        targets = list(range(len(info.classes))) if not classes else [class_index(c, info.classes) for c in classes]
        config = ProbeSetConfig(version=info.version, input_shape=info.input_shape, classes=info.classes, spec=spec,
                                capabilities=[public.describe()] if public is not None else [])
        probe_set = ProbeSet.open(self.run, config)
        self.client.pinned_version, self.client.phase = info.version, "probing"
        start, sent = time.perf_counter(), self.client.total_queries
        maker.fill(probe_set, self.client, targets, public, self.console)
        images, _ = probe_set.accepted()
        if len(images) == 0:
            raise CannotAttack("no probe reached the threshold")
        self.console.print(f"{len(images)} accepted probes of {len(probe_set.results)} in {self.run}; "
                           f"{probe_set.queries:,} queries in all ({self.client.total_queries - sent:,} now, "
                           f"{time.perf_counter() - start:.0f} s)")
        snapshot = take_snapshot(self.client, probe_set)
        self.console.print(f"snapshot of {snapshot.version} saved")
        return ProbingResult(run=str(self.run), version=probe_set.version, made=len(probe_set.results),
                             accepted=len(images), queries=probe_set.queries, session_queries=self.client.total_queries,
                             snapshot=_snapshot_result(snapshot, len(images)))

    def discard_probes(self) -> None:
        """A new probe set: the old one's snapshots and reports would not belong to it."""
        for name in (PROBING_FILE, PROBES_FILE, *REPORT_FILES):
            (self.run / name).unlink(missing_ok=True)
        shutil.rmtree(self.run / "snapshots", ignore_errors=True)

    # ------------------------------------------------------------- observing versions
    def snapshot(self) -> SnapshotResult:
        """Record the served version's answers to the run's probes (always asked anew: the same
        version may be served under other output options)."""
        probe_set = ProbeSet.load(self.run)
        snapshot = take_snapshot(self.client, probe_set)
        return _snapshot_result(snapshot, len(probe_set.accepted()[0]))

    def has_snapshot(self, version: str) -> bool:
        """Whether the run holds `version`'s answers to its current probes."""
        return ProbeSet.exists(self.run) and self._saved_snapshot(ProbeSet.load(self.run), version) is not None

    def observe(self) -> str:
        """Record the served version's answers the way this run compares versions (a snapshot of
        its probes, or its boundary distances); returns the version observed."""
        if self.uses_boundaries():
            return measure_served(self.client, BoundarySet.load(self.run), lambda _: None).version
        return self.snapshot().version

    def measure_boundaries(self, params: BoundaryParams, fresh: bool = False) -> BoundaryResult:
        """Label-only: choose the run's inputs if it has none yet (`params` set explicitly must
        agree with saved ones), then measure the version served on them."""
        if fresh:
            remove_boundary_set(self.run)
        log = self.console.print
        return measure_served(self.client, open_boundary_set(self.client, self.run, params, self.public_data, log), log)

    def uses_boundaries(self, caps: Capabilities | None = None) -> bool:
        """The run is compared by boundary distances when it has them and its probes cannot be
        used: there are none, or the served outputs leave them nothing to compare."""
        caps = caps or self.capabilities()
        return BoundarySet.exists(self.run) and (not caps.can_rank or not ProbeSet.exists(self.run))

    # ------------------------------------------------------------- inferring
    def infer(self, config: InferConfig) -> AttackReport:
        """Rank the classes by how the version after changed from the version before, on the same
        probes (or label-only inputs), against the null model `config.null`; a version not
        observed yet is observed now if it is served."""
        start = time.perf_counter()
        info = self.client.model_info()
        caps = from_model_info(info)
        report = self._infer_boundaries(config, info) if self.uses_boundaries(caps) else \
            self._infer_probes(config, caps)
        return report.model_copy(update={"wall_seconds": round(time.perf_counter() - start, 1)})

    def _infer_probes(self, config: InferConfig, caps: Capabilities) -> AttackReport:
        probe_set = ProbeSet.load(self.run)
        before, after = self._versions(config, probe_set.version, lambda v: self._snapshot_of(probe_set, v),
                                       lambda s: s.version)
        for snapshot in (before, after):
            caps = from_answers(snapshot.probabilities, caps)
        images, targets = probe_set.accepted()
        classes = len(probe_set.classes)

        def scores(statistic: str, b: np.ndarray, a: np.ndarray, t: np.ndarray = targets) -> np.ndarray:
            return class_scores(statistic, b, a, t, classes)

        digest = probe_digest(images)
        others = {v: s for v in list_snapshots(self.run) if v not in (before.version, after.version)
                  if (s := load_snapshot(self.run, v)).probe_digest == digest}
        null = self._null(config, others, lambda statistic, s: scores(statistic, before.probabilities, s.probabilities),
                          resample=lambda: resample_null(scores, before.probabilities, after.probabilities, targets,
                                                         probe_set.config.spec.seed),
                          shadow=lambda: shadow_null(self._shadow(images)))
        return analyse(probe_set, before, after, config.statistic, config.top, caps, null, config.rule,
                       config.null_scores)

    def _infer_boundaries(self, config: InferConfig, info: ModelInfo) -> AttackReport:
        bset = BoundarySet.load(self.run)
        before, after = self._versions(config, bset.config.version, lambda v: ensure_measurement(self.client, bset, v),
                                       lambda m: m[0])
        notes = [labels_only_note(info) if info.output.labels_only else
                 "ranked by boundary distances: the run has no probes"]
        if "statistic" in config.model_fields_set:
            notes.append("--statistic does not apply to boundary distances: ignored")
        others = {v: bset.load_measurement(v) for v in bset.measured_versions() if v not in (before[0], after[0])}
        null = self._null(config, others, lambda statistic, m: boundary_scores(bset, before[1], m, statistic))
        return analyse_boundaries(bset, before, after, config.top, notes, null, config.rule, config.null_scores)

    def _null(self, config: InferConfig, others: dict, update_scores, resample=None, shadow=None) -> NullModel | None:
        """The null model `config.null` asks for, from what this run holds; `auto`: the history when
        the run has observed enough other updates, else none."""
        choice = config.null
        if choice == "auto":
            choice = "history" if len(others) >= MIN_HISTORY else "none"
        if choice == "none":
            return None
        if choice == "history":
            return history_null(update_scores, others)
        make = {"resample": resample, "shadow": shadow}[choice]
        if make is None:
            raise ValueError(f"the {choice} null does not apply to boundary distances (history or none do)")
        return make()

    def _versions(self, config: InferConfig, first: str, observe: Callable[[str], Observation],
                  version_of: Callable[[Observation], str]) -> tuple[Observation, Observation]:
        """The observations compared: `before` (default: the version the run started on) and
        `after` (default: the version served now, once it differs, waiting for it with `wait`)."""
        before = observe(config.before or first)
        if config.after:
            return before, observe(config.after)
        old = version_of(before)
        if config.wait:
            self.console.print(f"waiting for the server to replace version {old} ...")
            self.client.wait_for_new_version(old, config.poll, config.wait_timeout)
        served = self.client.model_info().version
        if served == old:
            raise ValueError(f"the server still serves {served}; pass --wait to wait for a new version")
        return before, observe(served)

    def _snapshot_of(self, probe_set: ProbeSet, version: str) -> Snapshot:
        """The snapshot of `version` for the current probes: saved, or taken now if it is served."""
        saved = self._saved_snapshot(probe_set, version)
        if saved is not None:
            return saved
        served = self.client.model_info().version
        if served != version:
            raise ValueError(f"no snapshot of version {version} for these probes, and the server serves {served} now")
        return take_snapshot(self.client, probe_set)

    def _saved_snapshot(self, probe_set: ProbeSet, version: str) -> Snapshot | None:
        if version not in list_snapshots(self.run):
            return None
        snapshot = load_snapshot(self.run, version)
        return snapshot if snapshot.probe_digest == probe_digest(probe_set.accepted()[0]) else None

    def _shadow(self, images: np.ndarray) -> ShadowCalibration:
        path = self.run / SHADOW_FILE
        if not path.exists():
            raise ValueError(f"--null shadow: no {path}; make it with python -m attacker.shadow --run {self.run}")
        calibration = ShadowCalibration.model_validate_json(path.read_text())
        if calibration.probe_digest != probe_digest(images):
            raise ValueError("the shadow calibration was made for other probes: run python -m attacker.shadow again")
        return calibration

    def forget(self, version: str) -> None:
        """Drop this run's observation of `version` (to observe it again, under other output options)."""
        for path in snapshot_paths(self.run, version):
            path.unlink(missing_ok=True)
        if BoundarySet.exists(self.run):
            BoundarySet.load(self.run).forget(version)

    # ------------------------------------------------------------- results and copies
    def publish(self, report: AttackReport) -> dict[str, Path]:
        """Write the report (JSON, Markdown, chart) into the run and show its ranking on the console."""
        paths = write_report(self.run, report)
        print_ranking(report, self.console)
        self.console.print("report: " + "  ".join(str(p) for p in paths.values()))
        return paths

    def fork(self, run: Path) -> Campaign:
        """This run's copy under `run` (hard links: nothing is duplicated; files are replaced, never
        written in place), to observe and compare versions without touching this run: the
        evaluation harness gives each case its own."""
        run = Path(run)
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(self.run, run, copy_function=os.link)
        return Campaign(self.client, run, public_data=self.public_data, console=self.console)


def _snapshot_result(snapshot: Snapshot, probes: int) -> SnapshotResult:
    return SnapshotResult(version=snapshot.version, probes=probes, queries=snapshot.queries)
