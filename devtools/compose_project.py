"""One compose project of `make test-compose`: Compose v2 run on docker-compose.yml, watched with the SDK.

Every project gets a fresh name and its own environment file, and is removed at the end with its
containers, networks and volumes, whatever happened. Compose itself is the one a user runs: the
command `docker/ensure-compose.sh` prints (the docker CLI's plugin, or Debian's Compose v2
unpacked into a test-only directory); the caller's UIA_* variables never reach it, so the
environment file alone says what the project is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.models.containers import Container

from devtools.processes import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"


class CheckFailed(Exception):
    """A check failed; the message says which (the services' logs are printed before it is raised)."""


def log(message: str) -> None:
    print(f"[compose] {message}", file=sys.stderr, flush=True)


def compose_command() -> list[str]:
    """Compose v2, installed first if need be (docker/ensure-compose.sh prints how to run it)."""
    out = subprocess.run([str(ROOT / "docker" / "ensure-compose.sh")], check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    return out.stdout.strip().split(" ")


def compose_version(command: list[str]) -> str:
    return subprocess.run([*command, "version", "--short"], check=True, capture_output=True, text=True).stdout.strip()


def write_env_file(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


@dataclass
class Project:
    command: list[str]
    name: str
    env_file: Path
    deadline: float  # time.monotonic() by which everything must have ended
    client: docker.DockerClient
    files: tuple[Path, ...] = (COMPOSE_FILE,)
    profiles: tuple[str, ...] = ()
    _started: list[subprocess.Popen] = field(default_factory=list)

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed(f"project {self.name} ran past its deadline")
        return left

    # ---------------------------------------------------------------- compose, as a user runs it
    def argv(self, *args: str) -> list[str]:
        files = [a for f in self.files for a in ("--file", str(f))]
        profiles = [a for p in self.profiles for a in ("--profile", p)]
        return [*self.command, "--project-name", self.name, *files, *profiles, "--env-file", str(self.env_file),
                *args]

    def _env(self) -> dict[str, str]:
        # The caller's UIA_* variables would override the project's file: compose gets none of them.
        return {k: v for k, v in os.environ.items() if not k.startswith("UIA_")}

    def run(self, *args: str, timeout: float | None = None, expect: int | None = 0) -> int:
        """`compose ARGS` in the foreground; its exit status (checked against `expect` unless None)."""
        log("$ compose " + " ".join(args))
        try:
            code = subprocess.run(self.argv(*args), cwd=ROOT, env=self._env(),
                                  timeout=timeout or self.remaining()).returncode
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"`compose {' '.join(args)}` ran past its deadline") from None
        if expect is not None and code != expect:
            raise CheckFailed(f"`compose {' '.join(args)}` exited with status {code}, not {expect}")
        return code

    def output(self, *args: str) -> str:
        """`compose ARGS`'s stdout (e.g. a one-off `run`'s machine-readable result); it must exit 0."""
        log("$ compose " + " ".join(args))
        try:
            out = subprocess.run(self.argv(*args), cwd=ROOT, env=self._env(), stdout=subprocess.PIPE, text=True,
                                 timeout=self.remaining())
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"`compose {' '.join(args)}` ran past its deadline") from None
        if out.returncode != 0:
            raise CheckFailed(f"`compose {' '.join(args)}` exited with status {out.returncode}")
        return out.stdout

    def start(self, *args: str) -> subprocess.Popen:
        """`compose ARGS` in the background (its output goes to stderr); `finish` collects it."""
        log("$ compose " + " ".join(args) + "   (in the background)")
        proc = subprocess.Popen(self.argv(*args), cwd=ROOT, env=self._env(), stdout=sys.stderr)
        self._started.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen) -> int:
        try:
            return proc.wait(timeout=self.remaining())
        except subprocess.TimeoutExpired:
            raise CheckFailed("a compose command ran past its deadline") from None

    # ---------------------------------------------------------------- containers, through the SDK
    def containers(self, service: str) -> list[Container]:
        labels = [f"com.docker.compose.project={self.name}", f"com.docker.compose.service={service}"]
        for _ in range(10):
            try:
                return self.client.containers.list(all=True, filters={"label": labels})
            except docker.errors.NotFound:  # listed while compose was still creating or replacing it
                time.sleep(0.2)
        return self.client.containers.list(all=True, filters={"label": labels})

    def container(self, service: str) -> Container:
        found = self.containers(service)
        if len(found) != 1:
            raise CheckFailed(f"expected one container of service {service}, found {len(found)}")
        return found[0]

    def wait_for(self, what: str, condition, interval: float = 0.5):
        """Poll `condition()` until it returns something true, and return that."""
        while not (result := condition()):
            if self.remaining() < interval:
                raise CheckFailed(f"gave up waiting for {what}")
            time.sleep(interval)
        return result

    def wait_healthy(self, service: str, not_started_at: str = "", failed=lambda: None) -> Container:
        """Until the service's healthcheck passes (after a start other than `not_started_at`); `failed()`
        returns a reason to give up early, e.g. an error the service reports while it stays unhealthy."""
        def healthy() -> Container | None:
            if reason := failed():
                raise CheckFailed(f"{service}: {reason}")
            container = self.container(service)
            state = container.attrs["State"]
            health = state.get("Health", {}).get("Status")
            if state["Status"] in ("exited", "dead"):
                raise CheckFailed(f"{service} exited with status {state['ExitCode']} instead of becoming healthy")
            if health == "unhealthy":
                raise CheckFailed(f"{service} is unhealthy")
            return container if health == "healthy" and state["StartedAt"] != not_started_at else None
        return self.wait_for(f"{service} to be healthy", healthy)

    def wait_exit(self, service: str) -> int:
        container = self.wait_for(f"a container of {service}", lambda: (self.containers(service) or [None])[0])
        try:
            return container.wait(timeout=self.remaining())["StatusCode"]
        except Exception as exc:  # noqa: BLE001 - the SDK raises the transport's timeout types
            raise CheckFailed(f"{service} did not exit before the deadline ({type(exc).__name__})") from None

    def wait_running(self, service: str) -> Container:
        def running() -> Container | None:
            found = self.containers(service)
            if found and found[0].attrs["State"]["Status"] in ("exited", "dead"):
                raise CheckFailed(f"{service} exited with status {found[0].attrs['State']['ExitCode']}")
            return found[0] if found and found[0].attrs["State"]["Status"] == "running" else None
        return self.wait_for(f"{service} to run", running, interval=0.2)

    def logs(self, service: str) -> str:
        return "".join(c.logs().decode(errors="replace") for c in self.containers(service))

    def print_logs(self, tail: int = 40) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"com.docker.compose.project={self.name}"}):
            service = container.labels.get("com.docker.compose.service", container.name)
            state = container.attrs["State"]
            log(f"--- {container.name}: {state['Status']}, exit {state['ExitCode']}, last {tail} log lines")
            print("\n".join(container.logs().decode(errors="replace").splitlines()[-tail:]), file=sys.stderr,
                  flush=True)

    # ---------------------------------------------------------------- the end
    def remove(self) -> None:
        """`compose down -v`, then whatever of the project is left, found by compose's labels."""
        for proc in self._started:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        try:
            self.run("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180, expect=None)
        except CheckFailed as exc:
            log(f"compose down failed ({exc}); removing the project's objects with the SDK")
        label = {"label": f"com.docker.compose.project={self.name}"}
        for container in self.client.containers.list(all=True, filters=label):
            container.remove(force=True, v=True)
        for network in self.client.networks.list(filters=label):
            network.remove()
        for volume in self.client.volumes.list(filters=label):
            volume.remove(force=True)
        left = (self.client.containers.list(all=True, filters=label) + self.client.networks.list(filters=label)
                + self.client.volumes.list(filters=label))
        if left:
            raise CheckFailed(f"could not remove {left} of project {self.name}")
        log(f"removed the containers, networks and volumes of project {self.name}")
