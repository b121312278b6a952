"""`make test-compose`: the whole story in containers, run by compose and checked with the docker SDK.

    python -m devtools.compose_check [--build-only] [--keep]

1. builds the images offline (devtools.compose_images): a debootstrapped base, a host wheelhouse;
   asserts that the attacker's image cannot import torch;
2. `compose up -d server developer`: waits (SDK, with a deadline) until the developer is healthy,
   i.e. its original model θ is deployed;
3. mid-story, `compose restart server`: the same version must answer the same seeded images with
   bit-identical probabilities (float64 bytes) from its persisted store;
4. `compose up -d`: the rest of the story, gated by compose itself (probe, then the data owner's
   deletion request and the attacker's wait); every one-shot container must exit 0, the server
   must serve the data owner's θ_u, no attacker container may hold a token, and the attacker's
   report in the bind-mounted runs directory must name the removed class.

Everything runs under a fresh compose project name; its containers, networks and volumes are
removed at the end whatever happened (--keep leaves them for debugging). The last line is
machine-readable: `compose_check=passed seconds=... <image>_mb=...`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import numpy as np
from docker.models.containers import Container

from devtools.compose_images import BuildConfig, assert_attacker_has_no_torch, build_images, log
from devtools.processes import ROOT, free_port
from shared.schemas import AttackReport, DeletionStatus, ModelInfo
from shared.schemas.predict import Float32Batch

COMPOSE_FILE = ROOT / "docker-compose.yml"
ONE_SHOTS = ("attacker-probe", "data-owner", "attacker")


class StoryFailed(Exception):
    """A check failed; the message says which, the service logs are printed before it is raised."""


@dataclass(frozen=True)
class Story:
    """One compose project: its name, its environment file and what the test knows (the truth)."""

    project: str
    env_file: Path
    runs_dir: Path
    server_url: str
    removed_class: str
    tokens: tuple[str, ...]
    deadline: float  # time.monotonic() by which the whole story must have ended

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StoryFailed("the story ran past its deadline")
        return left


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) when the CLI has it, else Debian's v1 (`docker-compose`)."""
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return ["docker", "compose"] if v2.returncode == 0 else ["docker-compose"]


def compose(story: Story, *args: str, timeout: float | None = None) -> None:
    cmd = [*compose_command(), "--project-name", story.project, "--file", str(COMPOSE_FILE),
           "--env-file", str(story.env_file), *args]
    log("$ " + " ".join(cmd[cmd.index(str(story.env_file)) + 1:]))
    # The caller's UIA_* variables would override the story's file: compose gets none of them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("UIA_")}
    try:
        subprocess.run(cmd, check=True, cwd=ROOT, env=env, timeout=timeout or story.remaining())
    except subprocess.CalledProcessError as exc:
        raise StoryFailed(f"`compose {' '.join(args)}` exited with status {exc.returncode}") from None
    except subprocess.TimeoutExpired:
        raise StoryFailed(f"`compose {' '.join(args)}` ran past the story's deadline") from None


# ---------------------------------------------------------------- containers, through the SDK
def container_of(client: docker.DockerClient, story: Story, service: str) -> Container:
    found = client.containers.list(all=True, filters={"label": [f"com.docker.compose.project={story.project}",
                                                                f"com.docker.compose.service={service}"]})
    if len(found) != 1:
        raise StoryFailed(f"expected one container of service {service}, found {len(found)}")
    return found[0]


def wait_healthy(client: docker.DockerClient, story: Story, service: str, not_started_at: str = "",
                 failed=lambda: None) -> Container:
    """Until the service's healthcheck passes (after a start other than `not_started_at`); `failed()`
    returns a reason to give up early, e.g. an error the service reports while it stays unhealthy."""
    while True:
        if reason := failed():
            raise StoryFailed(f"{service}: {reason}")
        container = container_of(client, story, service)
        state = container.attrs["State"]
        health = state.get("Health", {}).get("Status")
        if state["Status"] in ("exited", "dead"):
            raise StoryFailed(f"{service} exited with status {state['ExitCode']} instead of becoming healthy")
        if health == "unhealthy":
            raise StoryFailed(f"{service} is unhealthy")
        if health == "healthy" and state["StartedAt"] != not_started_at:
            return container
        time.sleep(min(1.0, story.remaining()))


def wait_exit(client: docker.DockerClient, story: Story, service: str) -> int:
    container = container_of(client, story, service)
    try:
        return container.wait(timeout=story.remaining())["StatusCode"]
    except Exception as exc:  # noqa: BLE001 - the SDK raises the transport's timeout types
        raise StoryFailed(f"{service} did not exit before the deadline ({type(exc).__name__})") from None


def print_logs(client: docker.DockerClient, project: str, tail: int = 40) -> None:
    for container in client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"}):
        service = container.labels.get("com.docker.compose.service", container.name)
        state = container.attrs["State"]
        log(f"--- {service}: {state['Status']}, exit {state['ExitCode']}, last {tail} log lines")
        lines = container.logs().decode(errors="replace").splitlines()
        useful = [line for line in lines if "GET /healthz" not in line]  # the healthchecks' access log
        print("\n".join(useful[-tail:]), file=sys.stderr, flush=True)


def remove_project(client: docker.DockerClient, story: Story) -> None:
    """`compose down -v`, then whatever of the project is left, found by compose's labels."""
    try:
        compose(story, "down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180)
    except StoryFailed as exc:
        log(f"compose down failed ({exc}); removing the project's objects with the SDK")
    label = {"label": f"com.docker.compose.project={story.project}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=label):
        network.remove()
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
    left = (client.containers.list(all=True, filters=label) + client.networks.list(filters=label)
            + client.volumes.list(filters=label))
    if left:
        raise StoryFailed(f"could not remove {left} of project {story.project}")
    log(f"removed the containers, networks and volumes of project {story.project}")


# ---------------------------------------------------------------- the checks
def predict_bytes(http: httpx.Client, info: ModelInfo, seed: int = 0) -> tuple[str, bytes]:
    """The served version and its float64 probabilities for 16 seeded images, byte for byte."""
    images = np.random.default_rng(seed).random((16, *info.input_shape), dtype=np.float32)
    body = {"images": Float32Batch.from_array(images).model_dump()}
    r = http.post("/v1/predict", json=body, headers={"Accept": "application/octet-stream"})
    r.raise_for_status()
    return r.headers["X-Model-Version"], r.content


def developer_startup_error(port: int) -> str | None:
    """What the developer's /healthz reports when training or deploying θ failed (it will not retry)."""
    try:
        error = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json().get("startup_error")
    except (httpx.HTTPError, ValueError):
        return None  # not up yet
    return f"start-up failed: {error}" if error else None


def check_restart(client: docker.DockerClient, story: Story) -> str:
    """Restart the server mid-story: the same version, bit-identical probabilities."""
    with httpx.Client(base_url=story.server_url, timeout=30) as http:
        info = ModelInfo.model_validate(http.get("/v1/model").raise_for_status().json())
        version, before = predict_bytes(http, info)
        started_at = container_of(client, story, "server").attrs["State"]["StartedAt"]
        compose(story, "restart", "server")
        wait_healthy(client, story, "server", not_started_at=started_at)
        version_after, after = predict_bytes(http, info)
    if version_after != version:
        raise StoryFailed(f"after the restart the server serves {version_after}, not {version}")
    if before != after:
        raise StoryFailed(f"after the restart, version {version} answers differently (not bit-identical)")
    log(f"server restarted: version {version} answers {len(after)} bytes bit-identically")
    return version


def check_story_end(client: docker.DockerClient, story: Story, original: str) -> AttackReport:
    for service in ONE_SHOTS:  # in story order: a failed step fails now, not at the deadline
        if code := wait_exit(client, story, service):
            raise StoryFailed(f"{service} exited with status {code}; every one-shot service must exit 0")
    for service in ("attacker-probe", "attacker"):  # the threat model: an ordinary user, no secrets
        env = "\n".join(container_of(client, story, service).attrs["Config"]["Env"] or [])
        if any(token in env for token in story.tokens):
            raise StoryFailed(f"the {service} container holds a token")
    owner = DeletionStatus.model_validate_json(container_of(client, story, "data-owner").logs(stderr=False))
    if owner.state != "deployed" or owner.version in (None, original):
        raise StoryFailed(f"the deletion request ended {owner.state} with version {owner.version}")
    served = ModelInfo.model_validate(httpx.get(f"{story.server_url}/v1/model", timeout=30).raise_for_status().json())
    if served.version != owner.version:
        raise StoryFailed(f"the server serves {served.version}, not the unlearned {owner.version}")
    report = AttackReport.model_validate_json((story.runs_dir / "attacker" / "report.json").read_text())
    if (report.versions.before, report.versions.after) != (original, owner.version):
        raise StoryFailed(f"the report compares {report.versions}, not {original} -> {owner.version}")
    if not report.rankable or story.removed_class not in (report.inferred or []):
        raise StoryFailed(f"the report does not name {story.removed_class!r}: inferred {report.inferred}, "
                          f"ranking {report.ranking} ({report.reason or 'rankable'})")
    for name in ("report.md", "report-chart.png"):
        if not (story.runs_dir / "attacker" / name).is_file():
            raise StoryFailed(f"the attacker wrote no {name}")
    log(f"removed: {story.removed_class}; the report infers {report.inferred}, ranking {report.ranking}")
    return report


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def run_story(client: docker.DockerClient, args, config: BuildConfig) -> AttackReport:
    project = f"uia-compose-check-{secrets.token_hex(3)}"
    runs_dir = (ROOT / "runs" / "compose-check").resolve()
    shutil.rmtree(runs_dir, ignore_errors=True)
    runs_dir.mkdir(parents=True)
    admin, developer_token = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    server_port, developer_port = free_port(), free_port()
    env_file = runs_dir / "compose.env"
    write_env_file(env_file, {
        "UIA_IMAGE_TAG": config.tag, "UIA_BASE_IMAGE": config.base_image,
        "UIA_ADMIN_TOKEN": admin, "UIA_DEVELOPER_API_TOKEN": developer_token,
        "UIA_SERVER_PUBLISH": f"127.0.0.1:{server_port}", "UIA_DEVELOPER_PUBLISH": f"127.0.0.1:{developer_port}",
        "UIA_RUNS_DIR": str(runs_dir), "UIA_STORY_CLASS": args.cls, "UIA_STORY_PROPORTION": str(args.proportion),
        # `make demo`'s configuration on a 10,000-image subset: there too the report names the class
        # (`make demo DEMO_ARGS="--developer-args '--train-limit 10000'"`: inferred cat, confidence high)
        "UIA_DEVELOPER_PROFILE": "cpu", "UIA_DEVELOPER_REGIME": "paper-code", "UIA_DEVELOPER_SEED": str(args.seed),
        "UIA_DEVELOPER_TRAIN_LIMIT": str(args.train_limit),
        "UIA_ATTACK_METHOD": "nes", "UIA_ATTACK_PER_CLASS": str(args.per_class), "UIA_ATTACK_SEED": str(args.seed),
        "UIA_ATTACK_STATISTIC": "logodds", "UIA_ATTACK_WAIT_TIMEOUT": str(int(args.minutes * 60)),
        "UIA_DEVELOPER_START_PERIOD": f"{int(args.minutes)}m",
    })
    story = Story(project, env_file, runs_dir, f"http://127.0.0.1:{server_port}", args.cls,
                  (admin, developer_token), time.monotonic() + args.minutes * 60)
    try:
        compose(story, "up", "--detach", "--no-build", "server", "developer")
        wait_healthy(client, story, "developer", failed=lambda: developer_startup_error(developer_port))
        original = check_restart(client, story)
        compose(story, "up", "--detach", "--no-build")
        return check_story_end(client, story, original)
    except BaseException:
        print_logs(client, project)
        raise
    finally:
        if args.keep:
            log(f"--keep: project {project} left running; `docker compose -p {project} down -v` removes it")
        else:
            remove_project(client, story)


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-image", default="uia-base:bookworm", help="local base image (built if missing)")
    parser.add_argument("--wheelhouse", type=Path,
                        default=Path(os.environ.get("UIA_WHEELHOUSE", Path.home() / ".cache/unlearning-inversion/wheelhouse")))
    parser.add_argument("--wheelhouse-port", type=int, default=8739, help="loopback port serving it to the builds")
    parser.add_argument("--tag", default="latest", help="image tag (docker-compose.yml's UIA_IMAGE_TAG)")
    parser.add_argument("--class", dest="cls", default="cat", help="the class the data owner removes from")
    parser.add_argument("--proportion", type=float, default=0.5)
    parser.add_argument("--per-class", type=int, default=4, help="attacker's probes per class (demo: 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-limit", type=int, default=10_000, help="developer's train subset (tiny story)")
    parser.add_argument("--minutes", type=float, default=15, help="deadline of the story, after the builds")
    parser.add_argument("--build-only", action="store_true", help="build the images and stop")
    parser.add_argument("--keep", action="store_true", help="leave the compose project up (debugging)")
    args = parser.parse_args()
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so that the clean-up in `finally` runs.
    signal.signal(signal.SIGTERM, _interrupted)

    started = time.perf_counter()
    client = docker.from_env(timeout=900)
    config = BuildConfig(args.base_image, args.wheelhouse, args.wheelhouse_port, args.tag)
    images = build_images(client, config)
    assert_attacker_has_no_torch(client, config)
    built = time.perf_counter()
    if not args.build_only:
        try:
            run_story(client, args, config)
        except StoryFailed as exc:
            log(f"FAILED: {exc}")
            return 1
    sizes = " ".join(f"{i.target}_mb={i.size_bytes / 1e6:.0f}" for i in images)
    print(f"compose_check=passed build_s={built - started:.0f} story_s={time.perf_counter() - built:.0f} "
          f"seconds={time.perf_counter() - started:.0f} {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
