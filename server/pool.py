"""The one inference pool: every forward pass of every route runs on its threads.

Invariant: the event loop never runs numpy or torch work; a request's decoding, budget charge,
forward pass and output delivery run as one job here (one thread hop per request), and a job
running past the request timeout answers 503 (the thread finishes it, the answer is dropped).
The pool follows the app's lifespan: started with the app, shut down (waiting for running jobs)
with it, and started again if the same app starts again (tests do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.errors import ApiError

T = TypeVar("T")


class InferencePool:
    def __init__(self, workers: int):
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="inference")

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def run(self, job: Callable[[], T], timeout_s: float) -> T:
        self.start()  # an app used without its lifespan (a bare ASGI call) still gets a pool
        work = asyncio.get_running_loop().run_in_executor(self._executor, job)
        try:
            return await asyncio.wait_for(work, timeout=timeout_s)
        except TimeoutError:
            raise ApiError(503, "timeout", f"inference took longer than {timeout_s:g} s",
                           {"Retry-After": "5"}) from None
