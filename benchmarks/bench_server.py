"""`make bench-server`: HTTP throughput of /v1/predict against the in-process forward pass.

Starts the real server in its own process with a model of the cpu profile's architecture,
then measures, in one run:

- images/s of the in-process serving path (the server's own `ServingModel.predict`, same
  threads) at batch 1, 64, 512, 2048;
- images/s of `POST /v1/predict` with the binary encoding (float32 body, float64 answer) from
  2 concurrent clients (a server under load overlaps one request's transfer with another's
  forward pass) and from 1, and with float32-base64 JSON, at the same batch sizes;
- images/s of `POST /v2/models/classifier/infer` with Triton's system shared-memory extension
  from the same number of clients: each client owns an input and an output region (made with
  `tritonclient.utils.shared_memory`), writes every batch into its input region, sends only the
  JSON header, and reads the answer from its output region;
- latency p50 / p99 of single-image binary requests.

Every measurement alternates short rounds of all contenders, so that the drifting load of a
shared machine falls on all of them alike. The last line is machine-readable:
``ratio_batch512=<HTTP binary / in-process> ratio_shm_batch512=<shared memory / in-process>``
(images/s at batch 512).
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch
import tritonclient.utils.shared_memory as shm

from devtools.processes import ServerProcess
from server.serving import build_serving_model
from shared.artifacts import content_version, weights_to_bytes
from shared.models import build_model
from shared.schemas import DeploymentOptions, Float32Batch, ModelMetadata

BATCHES = (1, 64, 512, 2048)


def model_and_meta(arch: str, width: int) -> tuple[torch.nn.Module, ModelMetadata, bytes]:
    meta = ModelMetadata(version="bench", architecture={"name": arch, "width": width}, input_shape=(3, 32, 32),
                         classes=[f"c{i}" for i in range(10)],
                         normalization={"mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]},
                         created_at="2026-01-01T00:00:00Z")
    torch.manual_seed(0)
    model = build_model(meta).eval()
    weights = weights_to_bytes(model)
    return model, meta.model_copy(update={"version": content_version(weights, meta)}), weights


def run_for(fn, batch: int, seconds: float, clients: int = 1) -> tuple[int, float]:
    """(images, elapsed seconds) of calling `fn` (one call = `batch` images) from `clients` threads."""
    start = time.perf_counter()

    def loop() -> int:
        calls = 0
        while calls == 0 or time.perf_counter() - start < seconds:
            fn()
            calls += 1
        return calls

    with ThreadPoolExecutor(clients) as pool:
        calls = sum(pool.map(lambda _: loop(), range(clients)))
    return calls * batch, time.perf_counter() - start


def interleaved_rates(contenders: dict, batch: int, seconds: float, rounds: int) -> dict[str, float]:
    """Images/s of each contender, measured in alternating short rounds so that the load of this
    shared machine drifts over all of them alike. `contenders`: name -> (fn, clients)."""
    totals = {name: [0, 0.0] for name in contenders}
    for fn, _ in contenders.values():
        fn()  # warm up
    for _ in range(rounds):
        for name, (fn, clients) in contenders.items():
            images, elapsed = run_for(fn, batch, seconds / rounds, clients)
            totals[name][0] += images
            totals[name][1] += elapsed
    return {name: images / elapsed for name, (images, elapsed) in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="small_cnn")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="torch threads on both sides")
    parser.add_argument("--seconds", type=float, default=4.0, help="time per measurement, over all rounds")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per measurement")
    parser.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients (default 2)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, meta, weights = model_and_meta(args.arch, args.width)
    serving = build_serving_model(model, meta, DeploymentOptions(), torch.device("cpu"))
    rng = np.random.default_rng(0)
    inputs = {b: rng.random((b, 3, 32, 32), dtype=np.float32) for b in BATCHES}
    payloads = {b: x.tobytes() for b, x in inputs.items()}  # as ready as the in-process input

    with tempfile.TemporaryDirectory() as tmp:
        # shared memory is served to API keys only: the clients use one, without a budget
        server = ServerProcess(Path(tmp) / "store", extra_env={"UIA_SERVER_TORCH_THREADS": str(args.threads),
                                                               "UIA_SERVER_ALLOW_SHARED_MEMORY": "true",
                                                               "UIA_SERVER_API_KEYS": '{"bench": null}'}).start()
        regions: list = []
        try:
            with server.admin() as admin:
                files = {"metadata": ("metadata.json", meta.model_dump_json().encode(), "application/json"),
                         "weights": ("model.safetensors", weights, "application/octet-stream")}
                admin.post("/admin/models", files=files).raise_for_status()
                admin.put("/admin/deployment", json={"version": meta.version}).raise_for_status()
            local_http = threading.local()

            def http() -> httpx.Client:  # one connection per client thread
                if not hasattr(local_http, "client"):
                    local_http.client = httpx.Client(base_url=server.url, timeout=300, headers={"X-API-Key": "bench"})
                return local_http.client

            def binary(x: np.ndarray) -> np.ndarray:
                r = http().post("/v1/predict", content=payloads[len(x)], headers={
                    "content-type": "application/octet-stream", "accept": "application/octet-stream",
                    "x-batch-shape": ",".join(map(str, x.shape))})
                r.raise_for_status()
                return np.frombuffer(r.content, "<f8").reshape(len(x), -1)

            def json_base64(x: np.ndarray) -> np.ndarray:
                r = http().post("/v1/predict", json={"images": Float32Batch.from_array(x).model_dump()})
                r.raise_for_status()
                return np.asarray(r.json()["probabilities"])

            # one input and one output region per concurrent client, lent to whichever thread calls
            free_regions: queue.SimpleQueue = queue.SimpleQueue()
            prefix = http().get("/v2/systemsharedmemory/namespace").json()["prefix"]  # the key's object names
            for i in range(max(args.clients, 1)):
                tag = f"{prefix}bench-{os.getpid()}-{i}"
                pair = []
                for name, size in ((f"{tag}-in", max(BATCHES) * 3072 * 4), (f"{tag}-out", max(BATCHES) * 10 * 8)):
                    handle = shm.create_shared_memory_region(name, f"/{name}", size)
                    regions.append(handle)
                    http().post(f"/v2/systemsharedmemory/region/{name}/register",
                                json={"key": f"/{name}", "byte_size": size}).raise_for_status()
                    pair += [name, handle]
                free_regions.put(tuple(pair))

            def shared_memory(x: np.ndarray) -> np.ndarray:
                in_name, in_handle, out_name, out_handle = free_regions.get()
                try:
                    shm.set_shared_memory_region(in_handle, [x])
                    r = http().post("/v2/models/classifier/infer", json={
                        "inputs": [{"name": "images", "shape": list(x.shape), "datatype": "FP32", "parameters": {
                            "shared_memory_region": in_name, "shared_memory_byte_size": x.nbytes}}],
                        "outputs": [{"name": "probabilities", "parameters": {
                            "shared_memory_region": out_name, "shared_memory_byte_size": len(x) * 10 * 8}}]})
                    r.raise_for_status()
                    return shm.get_contents_as_numpy(out_handle, np.float64, [len(x), 10]).copy()
                finally:
                    free_regions.put((in_name, in_handle, out_name, out_handle))

            assert np.array_equal(binary(inputs[64]), serving.predict(inputs[64]))
            assert np.array_equal(shared_memory(inputs[64]), serving.predict(inputs[64]))
            print(f"model: {args.arch} width {args.width}, {sum(p.numel() for p in model.parameters()):,} "
                  f"parameters; torch threads {args.threads}; client and server on one machine "
                  f"({os.cpu_count()} cores)")
            print(f"HTTP: {args.clients} concurrent clients (and 1, for reference); images/s and ratio to in-process")
            print(f"{'batch':>6} {'in-process':>11} {'binary':>9} {'ratio':>6} {'binary 1 cl.':>13} {'ratio':>6} "
                  f"{'JSON b64':>9} {'ratio':>6} {'shm':>9} {'ratio':>6}")
            ratios, shm_ratios = {}, {}
            for b in BATCHES:
                x = inputs[b]
                r = interleaved_rates({
                    "local": (lambda: serving.predict(x), 1),
                    "binary": (lambda: binary(x), args.clients),
                    "binary1": (lambda: binary(x), 1),
                    "json": (lambda: json_base64(x), args.clients),
                    "shm": (lambda: shared_memory(x), args.clients),
                }, b, args.seconds, args.rounds)
                ratios[b], shm_ratios[b] = r["binary"] / r["local"], r["shm"] / r["local"]
                print(f"{b:>6} {r['local']:>11,.0f} {r['binary']:>9,.0f} {ratios[b]:>6.2f} {r['binary1']:>13,.0f} "
                      f"{r['binary1'] / r['local']:>6.2f} {r['json']:>9,.0f} {r['json'] / r['local']:>6.2f} "
                      f"{r['shm']:>9,.0f} {shm_ratios[b]:>6.2f}")
            latencies = []
            one = inputs[1]
            for _ in range(300):
                start = time.perf_counter()
                binary(one)
                latencies.append(time.perf_counter() - start)
            latencies.sort()
            p50, p99 = statistics.median(latencies), latencies[int(0.99 * len(latencies)) - 1]
            print(f"single-image latency: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms (binary, 300 requests)")
        finally:
            server.stop()
            for handle in regions:
                shm.destroy_shared_memory_region(handle)
    print(f"ratio_batch512={ratios[512]:.3f} ratio_shm_batch512={shm_ratios[512]:.3f}")


if __name__ == "__main__":
    main()
