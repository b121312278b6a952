"""Where the grid's tasks run: in this process (`LocalExecutor`), or on Ray (`RayExecutor`), one
actor per worker, each owning its own `CaseRunner` and server process.

Ray is an optional extra (`pip install .[ray]`): `ray.init()` starts a local instance unless
RAY_ADDRESS names a cluster. On a cluster the workers must share the grid's work directory
(checkpoints, probe sets, case results): a shared filesystem.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from evaluation.results import CaseResult
from evaluation.runner import CaseRunner, PrepareTask, StoryTask

Task = PrepareTask | StoryTask


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

    def __init__(self, workdir: Path, workers: int, threads: int | None = 1):
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise SystemExit("error: --executor ray needs Ray: pip install -e '.[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"TQDM_DISABLE": "1"}})
        remote = ray.remote(num_cpus=1)(CaseRunner)
        self.actors = [remote.remote(workdir, threads) for _ in range(workers)]
        self.pool = ActorPool(self.actors)

    def run(self, tasks: Iterable[Task]) -> Iterator[list[CaseResult]]:
        yield from self.pool.map_unordered(lambda actor, task: actor.do.remote(task), list(tasks))

    def close(self) -> None:
        self.ray.get([actor.stop.remote() for actor in self.actors])
        for actor in self.actors:
            self.ray.kill(actor)


def make_executor(kind: str, workdir: Path, workers: int) -> Executor:
    if kind == "ray":
        return RayExecutor(workdir, workers)
    if kind == "local":
        return LocalExecutor(workdir)
    raise ValueError(f"unknown executor {kind!r}: local or ray")
