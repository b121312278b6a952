"""Where the grid's tasks run: in this process (`LocalExecutor`), or on Ray (`RayExecutor`), one
actor per worker, each owning its own `CaseRunner` and server process.

Ray is an optional extra (`pip install .[ray]`): `ray.init()` starts a local instance unless
RAY_ADDRESS names a cluster. On a cluster the workers must share the grid's work directory
(checkpoints, probe sets, case results): a shared filesystem, mounted at the same path. The
code reaches the nodes either installed there (the project's images) or, with `ship_code`, as
Ray's runtime_env working directory: this checkout, uploaded by the driver (a laptop pointing
RAY_ADDRESS at a cluster). A worker asks for `gpus_per_worker` GPUs (the paper profile trains on
one) and as many CPUs as it runs torch threads (one by default). The thread count is part of what
a result depends on (torch's CPU kernels add up in an order that depends on it): a grid gives the
same results case for case on either executor with the same `threads`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from devtools.processes import ROOT
from evaluation.results import CaseResult
from evaluation.runner import CaseRunner, PrepareTask, StoryTask

Task = PrepareTask | StoryTask
# what a working directory shipped to a cluster leaves behind: environments, caches, results
SHIPPED_EXCLUDES = [".venv/", "runs/", ".git/", "docs/results/", "**/__pycache__/", ".pytest_cache/", ".hypothesis/"]


class ExecutorConfig(BaseModel):
    """Where a grid runs; `python -m evaluation`'s flags come from these fields."""

    executor: Literal["local", "ray"] = Field("local", description="local: in this process; ray: actors on ray.init() "
                                                                   "(RAY_ADDRESS for a cluster)")
    workers: int = Field(max(1, (os.cpu_count() or 2) // 2), ge=1,
                         description="Ray actors, each with its own server process")
    gpus_per_worker: float = Field(0.0, ge=0, description="Ray: GPUs each worker asks for (the paper profile: 1)")
    ship_code: bool = Field(False, description="Ray: upload this checkout as the workers' working directory (Ray's "
                                               "runtime_env), for cluster nodes without the package installed")
    threads: int | None = Field(None, ge=1, description="torch threads per worker, its server's included (a Ray "
                                                        "worker asks for as many CPUs); default: every core for "
                                                        "local, 1 per Ray worker. Two runs give the same results "
                                                        "case for case only with the same count: torch's CPU "
                                                        "kernels add up in an order that depends on it")


class Executor(Protocol):
    def run(self, tasks: Iterable[Task]) -> Iterator[list[CaseResult]]: ...

    def close(self) -> None: ...


class LocalExecutor:
    name = "local"

    def __init__(self, workdir: Path, threads: int | None = None):
        self.runner = CaseRunner(workdir, threads)

    def run(self, tasks: Iterable[Task]) -> Iterator[list[CaseResult]]:
        for task in tasks:
            yield self.runner.do(task)

    def close(self) -> None:
        self.runner.stop()


class RayExecutor:
    name = "ray"

    def __init__(self, workdir: Path, workers: int, threads: int = 1, gpus_per_worker: float = 0.0,
                 ship_code: bool = False):
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise SystemExit("error: --executor ray needs Ray: pip install -e '.[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            runtime_env: dict = {"env_vars": {"TQDM_DISABLE": "1"}}
            if ship_code:
                runtime_env.update(working_dir=str(ROOT), excludes=SHIPPED_EXCLUDES)
            ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                     runtime_env=runtime_env)
        remote = ray.remote(num_cpus=threads, num_gpus=gpus_per_worker)(CaseRunner)
        self.actors = [remote.remote(Path(workdir).resolve(), threads) for _ in range(workers)]
        self.pool = ActorPool(self.actors)

    def run(self, tasks: Iterable[Task]) -> Iterator[list[CaseResult]]:
        yield from self.pool.map_unordered(lambda actor, task: actor.do.remote(task), list(tasks))

    def close(self) -> None:
        self.ray.get([actor.stop.remote() for actor in self.actors])
        for actor in self.actors:
            self.ray.kill(actor)


def make_executor(config: ExecutorConfig, workdir: Path) -> Executor:
    if config.executor == "ray":
        # a Ray worker without a thread count runs one, not every core of its node
        return RayExecutor(workdir, config.workers, threads=config.threads or 1, gpus_per_worker=config.gpus_per_worker,
                           ship_code=config.ship_code)
    return LocalExecutor(workdir, threads=config.threads)
