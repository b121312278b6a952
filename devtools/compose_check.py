"""`make test-compose`: the compose files, run by Compose v2 as a user runs them, checked with the docker SDK.

    python -m devtools.compose_check [--build-only] [--keep] [--skip-grid]

1. Compose v2 (docker/ensure-compose.sh: the docker CLI's plugin, or Debian's own Compose v2 in a
   test-only directory) and the images, built by compose through the Dockerfile's default path
   without a registry (devtools/compose_images.py); the attacker's image cannot import torch;
2. the GPU override file: `compose config` gives every torch service an NVIDIA device reservation;
3. the story, told by the README's one command with a developer restart mid-story, told again
   (refused: deletions stay deleted) and replayed only after an explicit reset
   (devtools/compose_story.py);
4. the tiny evaluation grid on a Ray head and two workers in containers (devtools/compose_grid.py).

Each project runs under a fresh name and is removed at the end with its containers, networks and
volumes, whatever happened (--keep leaves them for debugging). The last line is machine-readable:
`compose_check=passed compose=<version> build_s=... story_s=... grid_s=... seconds=... <image>_mb=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from devtools.compose_grid import run_grid
from devtools.compose_images import (assert_attacker_has_no_torch, assert_attacker_runs_as_owner, bridge_gateway,
                                     build_images, ensure_base_image, ensure_wheelhouse, served_wheelhouse)
from devtools.compose_project import COMPOSE_FILE, CheckFailed, Project, compose_command, compose_version, log, \
    write_env_file
from devtools.compose_story import new_story, tell_story
from devtools.processes import ROOT

GPU_FILE = ROOT / "docker-compose.gpu.yml"
PROJECT_PREFIX = "uia-compose-"  # every project this check runs: uia-compose-{build,story,grid}-<run id>
TORCH_SERVICES = ("server", "developer", "ray-worker")  # what trains or serves models


def check_gpu_override(command: list[str], env_file: Path) -> None:
    """`compose config` with the GPU file on top: every torch service reserves the NVIDIA GPUs."""
    out = subprocess.run([*command, "--file", str(COMPOSE_FILE), "--file", str(GPU_FILE), "--profile", "grid",
                          "--env-file", str(env_file), "config", "--format", "json"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    services = json.loads(out)["services"]
    for name in TORCH_SERVICES:
        devices = (services[name].get("deploy") or {}).get("resources", {}).get("reservations", {}).get("devices", [])
        if not any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices):
            raise CheckFailed(f"with {GPU_FILE.name}, service {name} reserves no NVIDIA GPU: {devices}")
    for name in set(services) - set(TORCH_SERVICES):
        if (services[name].get("deploy") or {}).get("resources", {}).get("reservations", {}).get("devices"):
            raise CheckFailed(f"with {GPU_FILE.name}, service {name} reserves a device it has no use for")
    log(f"{GPU_FILE.name}: an NVIDIA GPU reservation for {', '.join(TORCH_SERVICES)} and no other service")


def new_project(command, name: str, env: dict[str, str], minutes: float, client) -> Project:
    env_file = ROOT / "runs" / f"{name}.env"
    write_env_file(env_file, env)
    return Project(command, name, env_file, time.monotonic() + minutes * 60, client)


def checked(run, proj: Project, keep: bool):
    """`run(proj)`, printing the services' logs when it fails, then removing the project."""
    try:
        return run(proj)
    except BaseException:
        proj.print_logs()
        raise
    finally:
        if keep:
            log(f"--keep: project {proj.name} left as it is; `docker compose -p {proj.name} down -v` removes it")
        else:
            proj.remove()
            proj.env_file.unlink(missing_ok=True)


def prune_images(client) -> None:
    """The images compose_check's projects built and left untagged (compose labels each build with
    its project, and a later project's build of the same image takes the tag over; this run's or
    an earlier run's): image records only, their layers are shared with the tagged images."""
    removed = 0
    for image in client.images.list(filters={"dangling": True}):
        if (image.labels or {}).get("com.docker.compose.project", "").startswith(PROJECT_PREFIX):
            client.images.remove(image.id)
            removed += 1
    log(f"removed {removed} untagged image records left by compose_check's projects")


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheelhouse", type=Path,
                        default=Path(os.environ.get("UIA_WHEELHOUSE", Path.home() / ".cache/unlearning-inversion/wheelhouse")))
    parser.add_argument("--wheelhouse-port", type=int, default=8739, help="port serving it to the builds")
    parser.add_argument("--tag", default="latest", help="image tag (docker-compose.yml's UIA_IMAGE_TAG)")
    parser.add_argument("--class", dest="cls", default="cat", help="the class the data owner removes from")
    parser.add_argument("--proportion", type=float, default=0.5)
    parser.add_argument("--per-class", type=int, default=4, help="attacker's probes per class (demo: 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-limit", type=int, default=10_000, help="developer's train subset (tiny story)")
    parser.add_argument("--minutes", type=float, default=20, help="deadline of the story, and of the grid")
    parser.add_argument("--build-only", action="store_true", help="build the images and stop")
    parser.add_argument("--skip-grid", action="store_true", help="leave out the grid on Ray")
    parser.add_argument("--keep", action="store_true", help="leave the compose projects up (debugging)")
    args = parser.parse_args()
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so that the clean-up in `finally` runs.
    signal.signal(signal.SIGTERM, _interrupted)

    started = time.perf_counter()
    client = docker.from_env(timeout=900)
    command = compose_command()
    version = compose_version(command)
    log(f"Compose {version}: {' '.join(command)}")
    base = ensure_base_image()
    ensure_wheelhouse(args.wheelhouse)
    run_id = secrets.token_hex(3)
    with served_wheelhouse(args.wheelhouse, bridge_gateway(client), args.wheelhouse_port) as url:
        # The images' build arguments: the Dockerfile's defaults (base: `base`), but the wheelhouse.
        common = {"UIA_IMAGE_TAG": args.tag, "UIA_WHEELHOUSE_URL": url}
        log(f"building through the Dockerfile's default path (base {base}), packages from {url}")
        builder = new_project(command, f"{PROJECT_PREFIX}build-{run_id}", common, args.minutes, client)
        try:
            images = build_images(builder, args.tag)
            assert_attacker_has_no_torch(client, args.tag)
            with tempfile.TemporaryDirectory(dir=ROOT / "runs") as scratch:
                assert_attacker_runs_as_owner(client, args.tag, Path(scratch))
            check_gpu_override(command, builder.env_file)
        finally:
            builder.env_file.unlink(missing_ok=True)
        built = time.perf_counter()
        if args.build_only:
            story_s = grid_s = 0.0
        else:
            try:
                story = new_story(ROOT, args.cls, args.proportion)
                env = {**common, **story.env(),
                       # `make demo`'s configuration on a 10,000-image subset: there too the report names the
                       # class (`make demo DEMO_ARGS="--developer-args '--train-limit 10000'"`: inferred cat)
                       "UIA_DEVELOPER_PROFILE": "cpu", "UIA_DEVELOPER_REGIME": "paper-code",
                       "UIA_DEVELOPER_SEED": str(args.seed), "UIA_DEVELOPER_TRAIN_LIMIT": str(args.train_limit),
                       "UIA_ATTACK_METHOD": "nes", "UIA_ATTACK_PER_CLASS": str(args.per_class),
                       "UIA_ATTACK_SEED": str(args.seed), "UIA_ATTACK_STATISTIC": "logodds",
                       "UIA_ATTACK_WAIT_TIMEOUT": str(int(args.minutes * 60)),
                       "UIA_DEVELOPER_START_PERIOD": f"{int(args.minutes)}m"}
                checked(lambda p: tell_story(p, story), new_project(command, f"{PROJECT_PREFIX}story-{run_id}", env,
                                                               args.minutes, client), args.keep)
                story_s = time.perf_counter() - built
                if not args.skip_grid:
                    grid_env = {**common, "UIA_GRID_CONFIG": "evaluation/configs/tiny.toml", "UIA_GRID_WORKERS": "2",
                                "UIA_GRID_WORKER_CPUS": "1"}
                    checked(run_grid, new_project(command, f"{PROJECT_PREFIX}grid-{run_id}", grid_env, args.minutes, client),
                            args.keep)
                grid_s = time.perf_counter() - built - story_s
            except CheckFailed as exc:
                log(f"FAILED: {exc}")
                return 1
            finally:
                prune_images(client)
    sizes = " ".join(f"{i.target}_mb={i.size_bytes / 1e6:.0f}" for i in images)
    print(f"compose_check=passed compose={version} build_s={built - started:.0f} story_s={story_s:.0f} "
          f"grid_s={grid_s:.0f} seconds={time.perf_counter() - started:.0f} {sizes}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
