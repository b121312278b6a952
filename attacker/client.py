"""The attacker's only window on the model: the public HTTP API, through httpx.

`InferenceClient` counts every image it sends (the query budget an MLaaS would bill), by phase;
sends batches in the server's binary encoding (lossless float32 in, float64 out); retries
transient failures (connection errors, 502/503/504) with exponential backoff; waits out a 429
for as long as its Retry-After says (up to `max_budget_wait`, else it stops with
`BudgetExhausted`); and can pin a model version: an answer from another version raises
`VersionChanged`, so answers from two versions never mix in one measurement. With
`shared_memory`, batches travel through Triton's system shared-memory extension instead of the
HTTP body (same host only; attacker/shared_memory.py); everything else stays the same.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import httpx
import numpy as np

from attacker.shared_memory import SharedMemoryTransport
from shared.schemas import ModelInfo

RETRY_STATUSES = {502, 503, 504}


class ApiError(RuntimeError):
    """The server answered with an error, or could not be reached; the message says which."""


class BudgetExhausted(ApiError):
    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class VersionChanged(RuntimeError):
    def __init__(self, expected: str, got: str):
        super().__init__(f"the server now serves version {got}, not {expected}")
        self.expected, self.got = expected, got


class InferenceClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 300.0, max_batch: int = 2048,
                 retries: int = 5, backoff: float = 0.5, max_budget_wait: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] = lambda message: None,
                 shared_memory: bool = False, model_name: str = "classifier"):
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.base_url, self.max_batch = base_url, max_batch
        self.retries, self.backoff, self.max_budget_wait = retries, backoff, max_budget_wait
        self.sleep, self.log = sleep, log
        self.queries: Counter[str] = Counter()  # images sent (and answered), by phase
        self.phase = "other"
        self.pinned_version: str | None = None
        self.shared_memory, self.model_name = shared_memory, model_name
        self._transport: SharedMemoryTransport | None = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self.http.close()

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def total_queries(self) -> int:
        return sum(self.queries.values())

    # ---------------------------------------------------------------- transport
    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                problem, response = f"cannot reach the server at {self.base_url}: {exc}", None
            else:
                if response.is_success:
                    return response
                problem = f"{method} {path}: HTTP {response.status_code}: {_detail(response)}"
                if response.status_code == 429:
                    wait = float(response.headers.get("retry-after", "60"))
                    if wait > self.max_budget_wait:
                        raise BudgetExhausted(f"query budget exhausted ({_detail(response)}); the server asks to "
                                              f"wait {wait:.0f} s", wait)
                    self.log(f"query budget exhausted: waiting {wait:.0f} s as the server asks")
                    self.sleep(wait)
                    continue
                if response.status_code not in RETRY_STATUSES:
                    raise ApiError(problem)
            attempt += 1
            if attempt > self.retries:
                raise ApiError(f"{problem} (after {self.retries} retries)")
            delay = self.backoff * 2 ** (attempt - 1)
            self.log(f"{problem}; retrying in {delay:.1f} s")
            self.sleep(delay)

    # ---------------------------------------------------------------- API
    def model_info(self) -> ModelInfo:
        return ModelInfo.model_validate_json(self._request("GET", "/v1/model").content)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, str]:
        """Probabilities (N, classes) for (N, C, H, W) images, in requests of at most `max_batch`."""
        parts, version = [], None
        for lo in range(0, len(images), self.max_batch):
            chunk = np.ascontiguousarray(images[lo:lo + self.max_batch], dtype="<f4")
            probs, answered = self._answer(chunk)
            self.queries[self.phase] += len(chunk)
            expected = self.pinned_version or version
            if expected is not None and answered != expected:
                raise VersionChanged(expected, answered)
            version = answered
            parts.append(probs)
        return np.concatenate(parts), version

    def _answer(self, chunk: np.ndarray) -> tuple[np.ndarray, str]:
        if self.shared_memory:
            if self._transport is None:
                info = self.model_info()
                try:
                    self._transport = SharedMemoryTransport(self._request, self.model_name, self.max_batch,
                                                            info.input_shape, len(info.classes))
                except ConnectionError as exc:
                    raise ApiError(str(exc)) from None
            return self._transport.answer(chunk)
        response = self._request("POST", "/v1/predict", content=chunk.tobytes(), headers={
            "content-type": "application/octet-stream", "accept": "application/octet-stream",
            "x-batch-shape": ",".join(map(str, chunk.shape))})
        return np.frombuffer(response.content, "<f8").reshape(len(chunk), -1), response.headers["x-model-version"]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self.predict(images)[0]

    def wait_for_new_version(self, old: str, poll_seconds: float = 2.0, timeout: float | None = None) -> str:
        """Poll the public model info until the served version differs from `old`."""
        start = time.monotonic()
        while True:
            try:
                version = self.model_info().version
            except ApiError:
                version = old  # the server may be restarting or between deployments
            if version != old:
                return version
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"the server still serves {old} after {timeout:.0f} s")
            self.sleep(poll_seconds)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]
