"""The project's images, built without any container registry: `make test-compose`'s first half.

A local base image (docker/build-base.sh: debootstrap + `docker import`) replaces the public
python:3.11-slim, and a wheelhouse built on the host (docker/build-wheelhouse.sh) replaces the
package index: it is served to the builds on a loopback port for the duration of the builds, so
neither the wheels (GBs) travel in the build context nor the host's pip settings enter an image.
The build arguments are the same on every run, so warm builds hit the layer cache.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from devtools.processes import ROOT
TARGETS = ("server", "developer", "attacker")  # server first: the attacker's build then needs no torch layer


@dataclass(frozen=True)
class BuildConfig:
    base_image: str
    wheelhouse: Path
    wheelhouse_port: int  # fixed: the URL is a build argument, so it is part of the layer cache key
    tag: str

    def image(self, target: str) -> str:
        """The name docker-compose.yml gives the target's image (unlearning-inversion/<target>:<tag>)."""
        return f"unlearning-inversion/{target}:{self.tag}"


@dataclass(frozen=True)
class ImageInfo:
    target: str
    name: str
    size_bytes: int
    build_seconds: float


def log(message: str) -> None:
    print(f"[compose] {message}", file=sys.stderr, flush=True)


def ensure_base_image(config: BuildConfig) -> None:
    subprocess.run([str(ROOT / "docker" / "build-base.sh"), config.base_image], check=True)


def ensure_wheelhouse(config: BuildConfig) -> None:
    subprocess.run([str(ROOT / "docker" / "build-wheelhouse.sh"), str(config.wheelhouse)], check=True,
                   env={**os.environ, "PYTHON": sys.executable})


@contextmanager
def served_wheelhouse(config: BuildConfig):
    """The wheelhouse over HTTP on 127.0.0.1 while the builds run (they use the host's network)."""
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(config.wheelhouse_port), "--bind",
                               "127.0.0.1", "--directory", str(config.wheelhouse)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(config.wheelhouse_port, server)
        yield f"http://127.0.0.1:{config.wheelhouse_port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the wheelhouse server exited (status {proc.returncode}): is port {port} taken? "
                               "choose another with --wheelhouse-port")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"the wheelhouse server did not listen on port {port} within {timeout:.0f} s")


def build_images(client: docker.DockerClient, config: BuildConfig) -> list[ImageInfo]:
    ensure_base_image(config)
    ensure_wheelhouse(config)
    infos = []
    with served_wheelhouse(config) as url:
        for target in TARGETS:
            started = time.perf_counter()
            log(f"building {config.image(target)} (target {target}) on {config.base_image}")
            _build(client, target, config.image(target), {"BASE_IMAGE": config.base_image, "WHEELHOUSE": url})
            size = client.images.get(config.image(target)).attrs["Size"]
            infos.append(ImageInfo(target, config.image(target), size, time.perf_counter() - started))
            log(f"built {config.image(target)}: {size / 1e6:,.0f} MB in {infos[-1].build_seconds:.0f} s")
    return infos


def _build(client: docker.DockerClient, target: str, tag: str, buildargs: dict[str, str]) -> None:
    """One target with the low-level API, so that the build's output streams to stderr as it happens."""
    stream = client.api.build(path=str(ROOT), dockerfile="Dockerfile", target=target, tag=tag, buildargs=buildargs,
                              network_mode="host", rm=True, forcerm=True, decode=True)
    for chunk in stream:
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error'].strip()}")
        text = chunk.get("stream", "").rstrip()
        if text:
            print(text, file=sys.stderr, flush=True)


def assert_attacker_has_no_torch(client: docker.DockerClient, config: BuildConfig) -> None:
    """The threat model made physical: torch cannot even be imported in the attacker's image."""
    image = config.image("attacker")
    for code, must_succeed in (("import attacker.__main__", True), ("import torch", False)):
        container = client.containers.run(image, entrypoint=["python", "-c", code], detach=True)
        try:
            status = container.wait(timeout=60)["StatusCode"]
        finally:
            container.remove(force=True)
        if (status == 0) != must_succeed:
            raise AssertionError(f"in {image}, `python -c '{code}'` exited {status}: "
                                 f"expected {'success' if must_succeed else 'failure'}")
    log(f"{image}: the attacker imports, torch does not")
