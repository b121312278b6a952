"""The attacker's only window on the model: the public HTTP API, through httpx.

`InferenceClient` counts every image it sends (the query budget an MLaaS would bill) and can
pin a model version: a response from any other version raises `VersionChanged`, so answers
from two versions never mix in one measurement.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import numpy as np

from shared.schemas import Float32Batch, ModelInfo, PredictResponse


class ApiError(RuntimeError):
    """The server answered with an error; the message carries its explanation."""


class VersionChanged(RuntimeError):
    def __init__(self, expected: str, got: str):
        super().__init__(f"the server now serves version {got}, not {expected}")
        self.expected, self.got = expected, got


class InferenceClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 300.0,
                 max_batch: int = 2048):
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)
        self.base_url = base_url
        self.max_batch = max_batch
        self.queries: Counter[str] = Counter()  # images sent, by phase
        self.phase = "other"
        self.pinned_version: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def total_queries(self) -> int:
        return sum(self.queries.values())

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the server at {self.base_url}: {exc}") from None
        if not response.is_success:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(f"{method} {path}: HTTP {response.status_code}: {detail}")
        return response

    def model_info(self) -> ModelInfo:
        return ModelInfo.model_validate_json(self._request("GET", "/v1/model").content)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, str]:
        """Probabilities (N, classes) for (N, C, H, W) images, in requests of at most `max_batch`."""
        parts, version = [], None
        for lo in range(0, len(images), self.max_batch):
            chunk = images[lo:lo + self.max_batch]
            body = {"images": Float32Batch.from_array(chunk).model_dump()}
            self.queries[self.phase] += len(chunk)
            answer = PredictResponse.model_validate_json(self._request("POST", "/v1/predict", json=body).content)
            if self.pinned_version is not None and answer.version != self.pinned_version:
                raise VersionChanged(self.pinned_version, answer.version)
            if version is not None and answer.version != version:
                raise VersionChanged(version, answer.version)
            version = answer.version
            parts.append(np.asarray(answer.probabilities, dtype=np.float64))
        return np.concatenate(parts), version

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
            time.sleep(poll_seconds)
