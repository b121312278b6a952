"""Same-host answers without the HTTP body: Triton's system shared-memory extension.

When the attacker runs on the server's host and the server allows it
(UIA_SERVER_ALLOW_SHARED_MEMORY), probes are written into a POSIX shared-memory object and the
probabilities read back from another; the HTTP request carries only the JSON that names them.
The objects are named in the namespace the server hands the attacker's API key (it registers no
other object for a key, and no shared memory for anonymous callers); the regions are registered
under that key and unregistered and unlinked on close. Only the transport changes: the same
images are counted, the same budget is charged, and the answering version is checked the same way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from multiprocessing import shared_memory

import httpx
import numpy as np

EXTENSION = "system_shared_memory"
OUTPUT = "probabilities"


class SharedMemoryTransport:
    def __init__(self, request: Callable[..., httpx.Response], model_name: str, max_batch: int,
                 input_shape: tuple[int, ...], classes: int):
        self.request, self.model_name = request, model_name
        self.input_shape, self.classes = tuple(input_shape), classes
        extensions = request("GET", "/v2").json().get("extensions", [])
        if EXTENSION not in extensions:
            raise ConnectionError("the server does not offer Triton's system shared-memory extension (it is off "
                                  "unless the server sets UIA_SERVER_ALLOW_SHARED_MEMORY): query over HTTP instead")
        metadata = request("GET", f"/v2/models/{model_name}").json()
        self.input_name = metadata["inputs"][0]["name"]
        prefix = request("GET", "/v2/systemsharedmemory/namespace").json()["prefix"]
        tag = f"{prefix}uia-attacker-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        sizes = {"in": max_batch * int(np.prod(self.input_shape)) * 4, "out": max_batch * classes * 8}
        self.regions: dict[str, shared_memory.SharedMemory] = {}
        try:
            for part, size in sizes.items():
                self.regions[part] = shared_memory.SharedMemory(name=f"{tag}-{part}", create=True, size=size)
                request("POST", f"/v2/systemsharedmemory/region/{tag}-{part}/register",
                        json={"key": f"/{tag}-{part}", "offset": 0, "byte_size": size})
        except BaseException:
            self.close()
            raise

    def answer(self, chunk: np.ndarray) -> tuple[np.ndarray, str]:
        """Probabilities (n, classes) for `chunk` (n, C, H, W) float32, and the version that answered."""
        n = len(chunk)
        images = np.ndarray(chunk.shape, dtype="<f4", buffer=self.regions["in"].buf)
        images[...] = chunk
        del images  # no view may outlive a call: the regions are closed later
        out_bytes = n * self.classes * 8
        body = {"inputs": [{"name": self.input_name, "shape": list(chunk.shape), "datatype": "FP32",
                            "parameters": {"shared_memory_region": self.regions["in"].name,
                                           "shared_memory_byte_size": chunk.nbytes}}],
                "outputs": [{"name": OUTPUT, "parameters": {"shared_memory_region": self.regions["out"].name,
                                                            "shared_memory_byte_size": out_bytes}}]}
        response = self.request("POST", f"/v2/models/{self.model_name}/infer", json=body)
        probs = np.frombuffer(self.regions["out"].buf[:out_bytes], dtype="<f8").reshape(n, self.classes).copy()
        return probs, response.headers["x-model-version"]

    def close(self) -> None:
        for region in self.regions.values():
            try:
                self.request("POST", f"/v2/systemsharedmemory/region/{region.name}/unregister")
            except Exception:  # noqa: BLE001 - the server may be gone; the objects are still ours to remove
                pass
            region.close()
            region.unlink()
        self.regions = {}
