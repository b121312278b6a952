"""The project's images, built by compose through the Dockerfile's default path, without any registry.

Compose builds them as it does for a user (`docker compose --profile grid build`: every target,
the default base image, `pull_policy: build`). What a registry would provide comes from this
machine instead, under the same names:

- the base: docker/build-base.sh debootstraps Debian bookworm (python3 is 3.11) and tags it with
  the Dockerfile's default base name, python:3.11-slim, unless an image of that name exists;
- the Python packages: docker/build-wheelhouse.sh downloads the pinned wheels with the host's pip
  (its index settings never enter an image), served over HTTP on the docker bridge's gateway for
  the builds, which install from it alone (build argument WHEELHOUSE, from UIA_WHEELHOUSE_URL).

The wheelhouse's URL is the same on every run, so warm builds (and `up`'s rebuilds) hit the cache.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import struct
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from devtools.compose_project import CheckFailed, Project, log
from devtools.processes import ROOT

TARGETS = ("server", "developer", "attacker", "grid")


def default_base_image() -> str:
    """The Dockerfile's default base (`ARG BASE_IMAGE=...`): the one name the builds use."""
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    if match is None:
        raise CheckFailed("the Dockerfile declares no default BASE_IMAGE")
    return match.group(1)


def image_name(target: str, tag: str) -> str:
    """The name docker-compose.yml gives the target's image (unlearning-inversion/<target>:<tag>)."""
    return f"unlearning-inversion/{target}:{tag}"


@dataclass(frozen=True)
class ImageInfo:
    target: str
    name: str
    size_bytes: int


def ensure_base_image() -> str:
    base = default_base_image()
    subprocess.run([str(ROOT / "docker" / "build-base.sh"), base], check=True)
    return base


def ensure_wheelhouse(wheelhouse: Path) -> None:
    subprocess.run([str(ROOT / "docker" / "build-wheelhouse.sh"), str(wheelhouse)], check=True,
                   env={**os.environ, "PYTHON": sys.executable})


def bridge_gateway(client: docker.DockerClient) -> str:
    """The host's address on docker's default bridge: what build steps reach the host at (the
    network's gateway, or, where the daemon does not name one, its interface's address)."""
    bridge = client.networks.get("bridge").attrs
    for config in bridge["IPAM"]["Config"] or []:
        if config.get("Gateway"):
            return config["Gateway"]
    interface = bridge["Options"].get("com.docker.network.bridge.name", "docker0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:  # SIOCGIFADDR: the interface's IPv4 address
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", interface[:15].encode()))
        except OSError as exc:
            raise CheckFailed(f"docker's bridge {interface} has no IPv4 address: {exc}") from None
    return socket.inet_ntoa(packed[20:24])


@contextmanager
def served_wheelhouse(wheelhouse: Path, address: str, port: int):
    """The wheelhouse over HTTP on the bridge's gateway address while compose builds (and rebuilds)."""
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", address,
                               "--directory", str(wheelhouse)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(address, port, server)
        yield f"http://{address}:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_port(address: str, port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"the wheelhouse server exited (status {proc.returncode}): is port {port} taken? "
                              "choose another with --wheelhouse-port")
        with socket.socket() as s:
            if s.connect_ex((address, port)) == 0:
                return
        time.sleep(0.1)
    raise CheckFailed(f"the wheelhouse server did not listen on {address}:{port} within {timeout:.0f} s")


def build_images(project: Project, tag: str) -> list[ImageInfo]:
    """`compose --profile grid build`, as a user would run it; the sizes of the images it made."""
    project.run("--profile", "grid", "build")
    infos = []
    for target in TARGETS:
        size = project.client.images.get(image_name(target, tag)).attrs["Size"]
        infos.append(ImageInfo(target, image_name(target, tag), size))
        log(f"{image_name(target, tag)}: {size / 1e6:,.0f} MB")
    return infos


def assert_attacker_runs_as_owner(client: docker.DockerClient, tag: str, scratch: Path) -> None:
    """The attacker's entrypoint: it writes as the run directory's owner, and as uia (10001), never
    root, when root owns the directory."""
    image = image_name("attacker", tag)
    write = "import os; open('/runs/mine', 'w').write(str(os.getuid()))"
    for owner, expected in (((4321, 4322), (4321, 4322)), ((0, 0), (10001, 10001))):
        run_dir = scratch / f"owner-{owner[0]}"
        run_dir.mkdir(parents=True)
        os.chown(run_dir, *owner)
        client.containers.run(image, entrypoint=["python", "/usr/local/bin/uia-run-as-owner", "/runs", "python",
                                                 "-c", write], volumes={str(run_dir): {"bind": "/runs"}}, remove=True)
        made = run_dir / "mine"
        got = (made.stat().st_uid, made.stat().st_gid)
        if got != expected or made.read_text() != str(expected[0]):
            raise CheckFailed(f"in a run directory owned by {owner}, the attacker wrote as {made.read_text()}, "
                              f"a file owned by {got}: expected {expected}")
    log(f"{image}: the attacker writes as the run directory's owner, as uia instead of root")


def assert_attacker_has_no_torch(client: docker.DockerClient, tag: str) -> None:
    """The threat model made physical: torch cannot even be imported in the attacker's image."""
    image = image_name("attacker", tag)
    for code, must_succeed in (("import attacker.__main__", True), ("import torch", False)):
        container = client.containers.run(image, entrypoint=["python", "-c", code], detach=True)
        try:
            status = container.wait(timeout=60)["StatusCode"]
        finally:
            container.remove(force=True)
        if (status == 0) != must_succeed:
            raise CheckFailed(f"in {image}, `python -c '{code}'` exited {status}: "
                              f"expected {'success' if must_succeed else 'failure'}")
    log(f"{image}: the attacker imports, torch does not")
