"""The story in containers, told by the README's one command and checked (`make test-compose`).

1. `up -d server developer`: θ trained and deployed (the developer healthy); the tokens were
   generated on first start;
2. `restart server`: the same version answers seeded images with bit-identical probabilities;
3. `up --exit-code-from attacker`, the one command, in the background. Mid-story, once the data
   owner's deletion is deployed (θ_u), with the attacker held (paused: a slow attacker),
   `restart developer`: the served version, polled throughout, is never θ again, and the developer
   resumes with θ_u and its history. The attacker then goes on; the command must exit 0;
4. the end: every step exited 0 and the report names the removed class. The server needs an API
   key: the attacker passed one, and waited out a 429 (this check spends the key's budget just as
   probing starts) instead of stopping. Its files belong to the run directory's owner (not root),
   no attacker container holds a token or mounts the tokens volume, and no /healthz poll is in the
   server's or the developer's log;
5. the one command again (the platform starts again): the story is not told twice (the gate exits
   4, so does nothing else, and the command fails), the report stays, θ_u stays served throughout;
6. replaying is explicit: `stop developer`, `run --rm --no-deps developer reset`, and only then
   does the developer deploy θ again and the gate let a story start.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from devtools.compose_project import CheckFailed, Project, log
from devtools.processes import free_port
from shared.schemas import AttackReport, DeletionStatus, ModelInfo
from shared.schemas.predict import Float32Batch

RUN_OWNER_STAND_IN = (4321, 4321)  # the run directory's owner when root runs the check (root never is)
TOKENS = ("admin", "developer-api")


@dataclass(frozen=True)
class Story:
    """What the check knows (the truth) and the addresses it reaches the stack at."""

    removed_class: str
    proportion: float
    runs_dir: Path
    owner: tuple[int, int]
    server_url: str
    developer_url: str
    api_key: str
    budget: int
    budget_window_s: int

    def env(self) -> dict[str, str]:
        return {
            "UIA_RUNS_DIR": str(self.runs_dir), "UIA_STORY_CLASS": self.removed_class,
            "UIA_STORY_PROPORTION": str(self.proportion),
            "UIA_SERVER_PUBLISH": self.server_url.removeprefix("http://"),
            "UIA_DEVELOPER_PUBLISH": self.developer_url.removeprefix("http://"),
            # the server needs a key, with a budget per window; the attacker has one
            "UIA_SERVER_ALLOW_ANONYMOUS": "false", "UIA_SERVER_API_KEYS": json.dumps({self.api_key: self.budget}),
            "UIA_SERVER_BUDGET_WINDOW_S": str(self.budget_window_s), "UIA_ATTACKER_API_KEY": self.api_key,
            "UIA_ATTACKER_MAX_BUDGET_WAIT": str(2 * self.budget_window_s),
        }

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server_url, headers={"X-API-Key": self.api_key}, timeout=60)


def new_story(root: Path, cls: str, proportion: float) -> Story:
    """A fresh run directory, owned by whoever owns the checkout (a stand-in for root)."""
    runs_dir = (root / "runs" / "compose-check").resolve()
    shutil.rmtree(runs_dir, ignore_errors=True)
    runs_dir.mkdir(parents=True)
    owner = (root.stat().st_uid, root.stat().st_gid)
    owner = owner if owner[0] != 0 else RUN_OWNER_STAND_IN
    os.chown(runs_dir, *owner)
    return Story(cls, proportion, runs_dir, owner, f"http://127.0.0.1:{free_port()}",
                 f"http://127.0.0.1:{free_port()}", secrets.token_urlsafe(12), budget=16_000, budget_window_s=30)


# ---------------------------------------------------------------- watching the served version
@dataclass
class VersionWatch:
    """Polls the served version in a thread: every answer, in order (None while nothing answers)."""

    story: Story
    seen: list[str | None] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> VersionWatch:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        with self.story.http() as http:
            while not self._stop.is_set():
                try:
                    self.seen.append(http.get("/v1/model", timeout=5).raise_for_status().json()["version"])
                except httpx.HTTPError:
                    self.seen.append(None)
                self._stop.wait(0.25)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def served(self) -> list[str]:
        return [v for v in self.seen if v is not None]


def never_the_original(watch: VersionWatch, original: str, unlearned: str, when: str) -> None:
    served = watch.served()
    if not served:
        raise CheckFailed(f"{when}: the server never answered")
    if original in served:
        raise CheckFailed(f"{when}: the server served the original {original} again ({served.count(original)} of "
                          f"{len(served)} answers): the deletion was undone")
    if set(served) != {unlearned}:
        raise CheckFailed(f"{when}: the server served {sorted(set(served))}, not only {unlearned}")
    log(f"{when}: {len(served)} answers, every one {unlearned}, never the original {original}")


# ---------------------------------------------------------------- steps
def predict_bytes(http: httpx.Client, info: ModelInfo, seed: int = 0) -> tuple[str, bytes]:
    """The served version and its float64 probabilities for 16 seeded images, byte for byte."""
    images = np.random.default_rng(seed).random((16, *info.input_shape), dtype=np.float32)
    body = {"images": Float32Batch.from_array(images).model_dump()}
    r = http.post("/v1/predict", json=body, headers={"Accept": "application/octet-stream"})
    r.raise_for_status()
    return r.headers["X-Model-Version"], r.content


def developer_startup_error(story: Story) -> str | None:
    """What the developer's /healthz reports when training or deploying θ failed (it will not retry)."""
    try:
        error = httpx.get(f"{story.developer_url}/healthz", timeout=5).json().get("startup_error")
    except (httpx.HTTPError, ValueError):
        return None  # not up yet
    return f"start-up failed: {error}" if error else None


def developer_health(story: Story, wait_s: float = 60.0) -> dict:
    """The developer's /healthz from the host. Docker's healthcheck runs inside the container, so
    right after a restart it can pass before the published port forwards again (seen on a loaded
    machine: connection refused): retry the connection a while, never an answer."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return httpx.get(f"{story.developer_url}/healthz", timeout=10).raise_for_status().json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def read_tokens(project: Project) -> dict[str, str]:
    """The tokens the stack generated on first start (they never appear in its configuration)."""
    developer = project.container("developer")
    tokens = {}
    for name in TOKENS:
        code, out = developer.exec_run(["cat", f"/tokens/{name}"])
        if code != 0 or not out.strip():
            raise CheckFailed(f"the developer cannot read the generated token /tokens/{name}")
        tokens[name] = out.decode().strip()
    if len(set(tokens.values())) != len(tokens) or min(len(t) for t in tokens.values()) < 32:
        raise CheckFailed("the generated tokens are not distinct random strings")
    return tokens


def check_server_restart(project: Project, story: Story) -> str:
    """Restart the server: the same version, bit-identical probabilities."""
    with story.http() as http:
        info = ModelInfo.model_validate(http.get("/v1/model").raise_for_status().json())
        version, before = predict_bytes(http, info)
        started_at = project.container("server").attrs["State"]["StartedAt"]
        project.run("restart", "server")
        project.wait_healthy("server", not_started_at=started_at)
        version_after, after = predict_bytes(http, info)
    if version_after != version:
        raise CheckFailed(f"after the restart the server serves {version_after}, not {version}")
    if before != after:
        raise CheckFailed(f"after the restart, version {version} answers differently (not bit-identical)")
    log(f"server restarted: version {version} answers {len(after)} bytes bit-identically")
    return version


def spend_budget(story: Story, info: ModelInfo) -> None:
    """Use up the key's budget in the current window, as the story is about to probe: the attacker's
    next request gets a 429 (another client of the same key was busy), which it must wait out.
    Raw float32 bodies (the API's binary encoding), the largest batches the server takes."""
    left = story.budget
    with story.http() as http:
        while left > 8:
            n = min(left - 8, 4000)
            body = np.zeros((n, *info.input_shape), dtype="<f4").tobytes()
            r = http.post("/v1/predict", content=body, headers={
                "Content-Type": "application/octet-stream", "X-Batch-Shape": ",".join(map(str, (n, *info.input_shape)))})
            if r.status_code == 429:  # the attacker's first requests came first: it is spent all the same
                break
            r.raise_for_status()
            left -= n
    log(f"spent the key's budget of {story.budget} images for this {story.budget_window_s} s window")


def restart_developer_mid_story(project: Project, story: Story, tokens: dict[str, str], original: str) -> DeletionStatus:
    """With the attacker held, once θ_u is deployed: restart the developer; θ must never come back."""
    attacker = project.wait_running("attacker")
    attacker.pause()  # a slow attacker: the story is not over while the developer restarts
    try:
        if code := project.wait_exit("data-owner"):
            raise CheckFailed(f"the data owner's request exited with status {code}")
        owner = DeletionStatus.model_validate_json(project.container("data-owner").logs(stderr=False))
        if owner.state != "deployed" or owner.version in (None, original):
            raise CheckFailed(f"the deletion request ended {owner.state} with version {owner.version}")
        started_at = project.container("developer").attrs["State"]["StartedAt"]
        with VersionWatch(story) as watch:
            project.run("restart", "developer")
            project.wait_healthy("developer", not_started_at=started_at)
            time.sleep(5)  # a redeployment of θ would come right after start-up: watch a while longer
        never_the_original(watch, original, owner.version, "developer restarted mid-story")
        health = developer_health(story)
        if health["deployed_version"] != owner.version or health["forgotten"] != owner.removed:
            raise CheckFailed(f"the restarted developer reports {health}, not {owner.version} with "
                              f"{owner.removed} samples forgotten")
        history = httpx.get(f"{story.developer_url}/deletion-requests", timeout=10,
                            headers={"Authorization": f"Bearer {tokens['developer-api']}"}).raise_for_status().json()
        if [h["id"] for h in history] != [owner.id]:
            raise CheckFailed(f"the restarted developer lists requests {[h['id'] for h in history]}, not [{owner.id}]")
        if "resuming: version " + owner.version not in project.logs("developer"):
            raise CheckFailed("the restarted developer did not log what it resumed")
    finally:
        attacker.reload()
        if attacker.attrs["State"]["Paused"]:
            attacker.unpause()
    return owner


def check_story_end(project: Project, story: Story, tokens: dict[str, str], original: str,
                    owner: DeletionStatus) -> AttackReport:
    for service in ("story-gate", "attacker-probe", "data-owner", "attacker"):
        if code := project.container(service).attrs["State"]["ExitCode"]:
            raise CheckFailed(f"{service} exited with status {code}; every step must exit 0")
    run = story.runs_dir / "attacker"
    report = AttackReport.model_validate_json((run / "report.json").read_text())
    if (report.versions.before, report.versions.after) != (original, owner.version):
        raise CheckFailed(f"the report compares {report.versions}, not {original} -> {owner.version}")
    if not report.rankable or story.removed_class not in (report.inferred or []):
        raise CheckFailed(f"the report does not name {story.removed_class!r}: inferred {report.inferred}, "
                          f"ranking {report.ranking} ({report.reason or 'rankable'})")
    for name in ("report.md", "report-chart.png"):
        if not (run / name).is_file():
            raise CheckFailed(f"the attacker wrote no {name}")
    log(f"removed: {story.removed_class}; the report infers {report.inferred}, ranking {report.ranking}")
    check_attacker(project, story, tokens, report)
    check_quiet_health_checks(project)
    return report


def check_attacker(project: Project, story: Story, tokens: dict[str, str], report: AttackReport) -> None:
    """The attacker: an ordinary user without secrets, unprivileged, resuming after a 429."""
    for service in ("attacker-probe", "attacker"):
        container = project.container(service)
        env = "\n".join(container.attrs["Config"]["Env"] or [])
        if any(token in env for token in tokens.values()):
            raise CheckFailed(f"the {service} container holds a token")
        if any(m.get("Name", "").endswith("_tokens") for m in container.attrs["Mounts"]):
            raise CheckFailed(f"the {service} container mounts the tokens volume")
    if "query budget exhausted: waiting" not in project.logs("attacker-probe"):
        raise CheckFailed("the attacker's probing never waited out a 429: the budget check proved nothing")
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in story.runs_dir.rglob("*")}
    if owners != {story.owner}:
        raise CheckFailed(f"the attacker's files belong to {sorted(owners)}, not to the run directory's owner "
                          f"{story.owner}")
    waits = project.logs("attacker-probe").count("query budget exhausted: waiting")
    log(f"attacker: no token; waited out {waits} 429s and went on ({report.queries.probing:,} probing queries, "
        f"{sum(report.probes_per_class.values())} probes); its files belong to {story.owner[0]}:{story.owner[1]}")


def check_quiet_health_checks(project: Project) -> None:
    for service in ("server", "developer"):
        container = project.container(service)
        if not container.attrs["State"].get("Health", {}).get("Log"):
            raise CheckFailed(f"the {service}'s healthcheck never ran")
        if "GET /healthz" in project.logs(service):
            raise CheckFailed(f"the {service}'s access log holds its healthcheck's /healthz polls")
    log("server and developer: healthchecks ran, their /healthz polls are not in the access logs")


def check_no_second_telling(project: Project, story: Story, original: str, unlearned: str) -> None:
    """The one command again: the platform starts again, the gate refuses, nothing else runs."""
    report_before = (story.runs_dir / "attacker" / "report.json").read_bytes()
    probed_at = project.container("attacker-probe").attrs["State"]["StartedAt"]
    with VersionWatch(story) as watch:
        code = project.run("up", "--exit-code-from", "attacker", expect=None)
        time.sleep(3)
    gate = project.container("story-gate").attrs["State"]["ExitCode"]
    if code == 0 or gate != 4:
        raise CheckFailed(f"told again, the story ended with status {code} (gate: {gate}), not refused (gate: 4)")
    if project.container("attacker-probe").attrs["State"]["StartedAt"] != probed_at:
        raise CheckFailed("told again, the attacker probed again")
    if (story.runs_dir / "attacker" / "report.json").read_bytes() != report_before:
        raise CheckFailed("told again, the story changed the report")
    never_the_original(watch, original, unlearned, "the stack started again after the story")
    if "Deletions stay deleted" not in project.logs("story-gate"):
        raise CheckFailed("the gate did not say why the story is not told again")


def last_json(text: str) -> dict:
    """The last JSON object printed, indented, at the end of `text`."""
    lines = text.rstrip().splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:]))


def check_explicit_replay(project: Project, story: Story, original: str) -> None:
    """`developer reset` with the developer stopped; then, and only then, θ is deployed again."""
    project.run("stop", "developer")
    out = project.output("run", "--rm", "--no-deps", "-T", "developer", "reset")
    reset = last_json(out)  # compose prints the image's (cached) build before it
    if reset["requests"] != 1 or not reset["archived"]:
        raise CheckFailed(f"`developer reset` answered {reset}")
    project.run("up", "--detach", "developer")
    project.wait_healthy("developer", failed=lambda: developer_startup_error(story))
    with story.http() as http:
        served = http.get("/v1/model").raise_for_status().json()["version"]
    if served != original:
        raise CheckFailed(f"after the reset the developer deployed {served}, not the original {original}")
    project.run("run", "--rm", "--no-deps", "-T", "story-gate")  # exit 0: a story may start again
    log(f"replay: reset archived the history in {reset['archived']}; the original {original} is served again")


def tell_story(project: Project, story: Story) -> AttackReport:
    project.run("up", "--detach", "server", "developer")
    project.wait_healthy("developer", failed=lambda: developer_startup_error(story))
    tokens = read_tokens(project)
    original = check_server_restart(project, story)
    with story.http() as http:
        info = ModelInfo.model_validate(http.get("/v1/model").raise_for_status().json())
    one_command = project.start("up", "--exit-code-from", "attacker")
    project.wait_running("story-gate")  # probing starts right after it
    spend_budget(story, info)
    owner = restart_developer_mid_story(project, story, tokens, original)
    if code := project.finish(one_command):
        raise CheckFailed(f"`docker compose up --exit-code-from attacker` exited with status {code}, not 0")
    report = check_story_end(project, story, tokens, original, owner)
    check_no_second_telling(project, story, original, owner.version)
    check_explicit_replay(project, story, original)
    return report
