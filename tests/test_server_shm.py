"""Triton's system shared-memory extension: the unmodified `tritonclient` through a real server
process, every way a region can be wrong (a 4xx, never a crash or a read outside it), and tenants
kept apart: a key registers objects of its own namespace only, every refusal is one answer,
anonymous callers have no shared memory, descriptors are capped per key and in total."""

from __future__ import annotations

import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import ServerSettings
from tests.conftest import ServerProcess
from tests.helpers import TOKEN, deploy, upload, versioned

httpclient = pytest.importorskip("tritonclient.http")
shm = pytest.importorskip("tritonclient.utils.shared_memory")

X = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
INFER = "/v2/models/classifier/infer"
SHM_DIR = Path("/dev/shm")


NAMESPACE = "/v2/systemsharedmemory/namespace"


def unique_key(prefix: str = "") -> str:
    return f"/{prefix}uia-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def prefix_of(http, headers: dict | None = None) -> str:
    """The namespace the server hands the caller's key."""
    r = http.get(NAMESPACE, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["prefix"]


@pytest.fixture
def regions():
    """Shared-memory objects made with tritonclient's helper (in namespace `prefix`), destroyed
    after the test."""
    made = []

    def make(byte_size: int, prefix: str = ""):
        key = unique_key(prefix)
        handle = shm.create_shared_memory_region(key.strip("/"), key, byte_size)
        made.append(handle)
        return key, handle

    yield make
    for handle in made:
        shm.destroy_shared_memory_region(handle)


def json_probabilities(http, headers: dict | None = None) -> np.ndarray:
    body = {"inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32", "data": X.ravel().tolist()}]}
    r = http.post(INFER, json=body, headers=headers)
    assert r.status_code == 200, r.text
    return np.array(r.json()["outputs"][0]["data"]).reshape(len(X), -1)


def shm_body(region_in: str, region_out: str, n: int = len(X), in_offset: int = 0, in_size: int | None = None,
             out_offset: int = 0, out_size: int = 4 * 10 * 8) -> dict:
    return {"inputs": [{"name": "images", "shape": [n, 3, 32, 32], "datatype": "FP32",
                        "parameters": {"shared_memory_region": region_in, "shared_memory_offset": in_offset,
                                       "shared_memory_byte_size": n * 3072 * 4 if in_size is None else in_size}}],
            "outputs": [{"name": "probabilities",
                         "parameters": {"shared_memory_region": region_out, "shared_memory_offset": out_offset,
                                        "shared_memory_byte_size": out_size}}]}


# ---- the unmodified Triton client against a real server process -------------------------------------------


TRITON_KEY = {"X-API-Key": "triton-key"}


@pytest.fixture(scope="module")
def shm_server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("shm") / "store",
                           extra_env={"UIA_SERVER_ALLOW_SHARED_MEMORY": "true",
                                      "UIA_SERVER_API_KEYS": '{"triton-key": null}'}).start()
    meta, weights, _ = versioned()
    try:
        with server.admin() as admin:
            upload(admin, meta, weights)
            deploy(admin, meta.version)
        yield server
    finally:
        server.stop()


def test_triton_client_infers_through_shared_memory(shm_server, regions):
    """The unmodified client, with the key as a header and its objects in the key's namespace."""
    triton = httpclient.InferenceServerClient(url=shm_server.url.removeprefix("http://"))
    key = TRITON_KEY
    try:
        assert "system_shared_memory" in triton.get_server_metadata()["extensions"]
        with httpx.Client(base_url=shm_server.url) as http:
            prefix = prefix_of(http, key)
        in_key, in_handle = regions(X.nbytes + 64, prefix)
        out_key, out_handle = regions(4 * 10 * 8 + 16, prefix)
        triton.register_system_shared_memory("in", in_key, X.nbytes, offset=64, headers=key)  # inside the object
        triton.register_system_shared_memory("out", out_key, 4 * 10 * 8 + 16, headers=key)
        shm.set_shared_memory_region(in_handle, [X], offset=64)

        tensor = httpclient.InferInput("images", list(X.shape), "FP32")
        tensor.set_shared_memory("in", X.nbytes)
        wanted = httpclient.InferRequestedOutput("probabilities", binary_data=True)
        wanted.set_shared_memory("out", 4 * 10 * 8, offset=16)
        result = triton.infer("classifier", [tensor], outputs=[wanted], headers=key)

        output = result.get_output("probabilities")
        assert output["shape"] == [4, 10] and output["datatype"] == "FP64" and "data" not in output
        assert output["parameters"]["shared_memory_region"] == "out"
        probs = shm.get_contents_as_numpy(out_handle, np.float64, [4, 10], offset=16)
        with httpx.Client(base_url=shm_server.url) as http:
            assert np.array_equal(probs, json_probabilities(http, key))  # bit for bit, as over HTTP

        status = {r["name"]: r for r in triton.get_system_shared_memory_status(headers=key)}
        assert status["in"] == {"name": "in", "key": in_key, "offset": 64, "byte_size": X.nbytes}
        assert [r["name"] for r in triton.get_system_shared_memory_status("out", headers=key)] == ["out"]
        triton.unregister_system_shared_memory("in", headers=key)
        assert [r["name"] for r in triton.get_system_shared_memory_status(headers=key)] == ["out"]
        triton.unregister_system_shared_memory(headers=key)
        assert triton.get_system_shared_memory_status(headers=key) == []
    finally:
        triton.close()


# ---- in process: what is refused, and what changes nothing ---------------------------------------------------


@pytest.fixture
def client(tmp_path):
    settings = ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, allow_shared_memory=True,
                              api_keys={"alice": 8, "bob": None}, allow_anonymous=False)
    with TestClient(create_app(settings)) as client:
        meta, weights, _ = versioned()
        upload(client, meta, weights)
        deploy(client, meta.version)
        client.headers["X-API-Key"] = "alice"
        yield client


@pytest.fixture
def registered(client, regions):
    """Regions "in" (X at offset 0) and "out" (room for four answers), registered by alice."""
    prefix = prefix_of(client)
    in_key, in_handle = regions(X.nbytes, prefix)
    out_key, out_handle = regions(4 * 10 * 8, prefix)
    shm.set_shared_memory_region(in_handle, [X])
    for name, key, size in (("in", in_key, X.nbytes), ("out", out_key, 4 * 10 * 8)):
        r = client.post(f"/v2/systemsharedmemory/region/{name}/register", json={"key": key, "byte_size": size})
        assert r.status_code == 200, r.text
    return in_key, out_key, out_handle


def remaining(client) -> int:
    """Alice's budget left, by spending nothing: a 1-image request that the budget answers."""
    r = client.post("/v1/predict", json={"images": {"encoding": "json", "data": X[:1].tolist()}})
    assert r.status_code == 200, r.text
    return int(r.headers["x-budget-remaining"]) + 1


@pytest.mark.parametrize("key", ["/../etc/passwd", "etc/passwd", "/dev/shm/x"])
def test_a_key_outside_the_posix_namespace_is_malformed(client, key):
    r = client.post("/v2/systemsharedmemory/region/r/register", json={"key": key, "byte_size": 16})
    assert r.status_code == 400 and list(r.json()) == ["error"] and "key" in r.json()["error"], r.text
    assert client.get("/v2/systemsharedmemory/status").json() == []


def _refusal_of(client, key: str, byte_size: int = 16, offset: int = 0):
    r = client.post("/v2/systemsharedmemory/region/r/register", json={"key": key, "offset": offset,
                                                                     "byte_size": byte_size})
    return r.status_code, r.json()["error"].replace(repr(key), "<key>")


def test_every_refusal_is_one_answer_so_registration_lists_no_names_nor_sizes(client, regions):
    """Nothing tells a missing object from an existing one, nor gives its size."""
    key, _ = regions(16)
    answers = {_refusal_of(client, unique_key()), _refusal_of(client, key, byte_size=10**6),
               _refusal_of(client, key, byte_size=16, offset=8)}
    assert len(answers) == 1, answers
    [(status, text)] = answers
    # The answer names the caller's own namespace (random hex, which may hold "16"); the size
    # would appear as a number of its own.
    assert status == 404 and re.search(r"\b16\b", text) is None, text


def test_in_its_own_namespace_every_refusal_is_the_same_answer_too(client, regions, tmp_path):
    """Missing, too small, a symbolic link, a hard link, a directory: one answer, and the object
    behind a link is not opened."""
    prefix = prefix_of(client)
    target = tmp_path / "secret"
    target.write_bytes(b"x" * 64)
    small, _ = regions(16, prefix)
    linked, _ = regions(64, prefix)
    symlink, hardlink, directory = unique_key(prefix), unique_key(prefix), unique_key(prefix)
    os.symlink(target, SHM_DIR / symlink.strip("/"))
    os.link(SHM_DIR / linked.strip("/"), SHM_DIR / hardlink.strip("/"))
    os.mkdir(SHM_DIR / directory.strip("/"))
    try:
        answers = {_refusal_of(client, unique_key(prefix)), _refusal_of(client, small, byte_size=17),
                   _refusal_of(client, symlink), _refusal_of(client, hardlink), _refusal_of(client, directory)}
    finally:
        os.unlink(SHM_DIR / symlink.strip("/"))
        os.unlink(SHM_DIR / hardlink.strip("/"))
        os.rmdir(SHM_DIR / directory.strip("/"))
    assert len(answers) == 1 and answers == {_refusal_of(client, unique_key())}, answers
    assert client.get("/v2/systemsharedmemory/status").json() == []
    r = client.post("/v2/systemsharedmemory/region/ok/register", json={"key": small, "byte_size": 16})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("offset, byte_size", [(0, 10**6), (X.nbytes, 1), (X.nbytes - 4, 8)])
def test_a_region_must_fit_its_object(client, regions, offset, byte_size):
    key, _ = regions(X.nbytes, prefix_of(client))
    r = client.post("/v2/systemsharedmemory/region/r/register",
                    json={"key": key, "offset": offset, "byte_size": byte_size})
    assert r.status_code == 404 and "offset + byte_size" in r.json()["error"], r.text


def test_names_are_unique_and_regions_belong_to_their_caller(client, registered):
    in_key, _, _ = registered
    r = client.post("/v2/systemsharedmemory/region/in/register", json={"key": in_key, "byte_size": 16})
    assert r.status_code == 409 and "already registered" in r.json()["error"]
    bob = {"X-API-Key": "bob"}
    assert client.get("/v2/systemsharedmemory/status", headers=bob).json() == []
    assert client.get("/v2/systemsharedmemory/region/in/status", headers=bob).status_code == 404
    r = client.post(INFER, json=shm_body("in", "out"), headers=bob)
    assert r.status_code == 400 and "no shared-memory region named 'in'" in r.json()["error"]
    assert client.post("/v2/systemsharedmemory/unregister", headers=bob).status_code == 200  # bob's: none
    assert [s["name"] for s in client.get("/v2/systemsharedmemory/status").json()] == ["in", "out"]
    assert client.get("/v2/systemsharedmemory/status", headers={"X-API-Key": "mallory"}).status_code == 401


def test_shared_memory_inference_is_charged_like_any_other(client, registered):
    _, _, out_handle = registered
    r = client.post(INFER, json=shm_body("in", "out"))
    assert r.status_code == 200, r.text
    assert r.headers["x-budget-remaining"] == "4"
    assert "data" not in r.json()["outputs"][0]
    probs = shm.get_contents_as_numpy(out_handle, np.float64, [4, 10])
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert np.array_equal(probs, json_probabilities(client, {"X-API-Key": "bob"}))
    r = client.post(INFER, json=shm_body("in", "out", n=4))
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "0"
    r = client.post(INFER, json=shm_body("in", "out", n=1, out_size=80))
    assert r.status_code == 429 and list(r.json()) == ["error"] and int(r.headers["retry-after"]) >= 1


@pytest.mark.parametrize("changes, words", [
    ({"in_size": X.nbytes - 4}, "does not match shape"),
    ({"in_offset": 4}, "do not fit region 'in'"),
    ({"n": 5}, "do not fit region 'in'"),
    ({"out_size": 4 * 10 * 8 - 1}, "needs 320 bytes"),
    ({"out_offset": 8}, "do not fit region 'out'"),
    ({"region_in": "nowhere"}, "no shared-memory region named 'nowhere'"),
    ({"region_out": "nowhere"}, "no shared-memory region named 'nowhere'"),
])
def test_bad_offsets_and_sizes_are_400_and_charge_nothing(client, registered, changes, words):
    before = remaining(client)
    r = client.post(INFER, json=shm_body(**{"region_in": "in", "region_out": "out", **changes}))
    assert r.status_code == 400, r.text
    assert list(r.json()) == ["error"] and words in r.json()["error"]
    assert remaining(client) == before - 1  # only the probe of `remaining` itself


def test_a_region_input_larger_than_a_request_body_is_413_before_anything_is_read(client, registered):
    limit = client.app.state.uia.settings.max_body_bytes
    n = limit // (3072 * 4) + 1
    r = client.post(INFER, json=shm_body("in", "out", n=n))
    assert r.status_code == 413 and f"the limit is {limit}" in r.json()["error"], r.text


def test_data_and_a_region_together_are_refused(client, registered):
    body = shm_body("in", "out")
    body["inputs"][0]["data"] = X.ravel().tolist()
    r = client.post(INFER, json=body)
    assert r.status_code == 400 and "one of data" in r.json()["error"]


def test_a_shrunk_object_is_a_400_not_a_crash(client, registered):
    in_key, _, _ = registered
    os.truncate(SHM_DIR / in_key.strip("/"), 100)
    r = client.post(INFER, json=shm_body("in", "out"))
    assert r.status_code == 400 and "shrank" in r.json()["error"], r.text
    assert client.get("/v2/health/live").status_code == 200


def test_unregistering_regions_in_use_is_safe(client, registered, regions):
    """Inference and unregister/register race for a while: every answer is a 200 with the right
    probabilities or a 400 naming the missing region; the server keeps answering."""
    bob = {"X-API-Key": "bob"}
    expected = json_probabilities(client, bob)
    prefix = prefix_of(client, bob)
    (in_key, in_handle), (out_key, out_handle) = regions(X.nbytes, prefix), regions(320, prefix)
    shm.set_shared_memory_region(in_handle, [X])
    for name, key, size in (("in", in_key, X.nbytes), ("out", out_key, 320)):
        client.post(f"/v2/systemsharedmemory/region/{name}/register", json={"key": key, "byte_size": size},
                    headers=bob)
    stop = threading.Event()
    statuses: list[int] = []

    def infer() -> None:
        while not stop.is_set():
            r = client.post(INFER, json=shm_body("in", "out"), headers=bob)
            statuses.append(r.status_code)
            assert r.status_code in (200, 400), r.text
            if r.status_code == 400:
                assert "no shared-memory region named" in r.json()["error"]

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(infer) for _ in range(2)]
        for _ in range(40):
            client.post("/v2/systemsharedmemory/region/in/unregister", headers=bob)
            client.post("/v2/systemsharedmemory/region/in/register", json={"key": in_key, "byte_size": X.nbytes},
                        headers=bob)
        stop.set()
        for future in futures:
            future.result(timeout=60)
    assert 200 in statuses
    assert client.post(INFER, json=shm_body("in", "out"), headers=bob).status_code == 200
    assert np.array_equal(shm.get_contents_as_numpy(out_handle, np.float64, [4, 10]), expected)


def test_the_extension_is_off_by_default(tmp_path, regions):
    with TestClient(create_app(ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN))) as client:
        meta, weights, _ = versioned()
        upload(client, meta, weights)
        deploy(client, meta.version)
        assert "system_shared_memory" not in client.get("/v2").json()["extensions"]
        key, _ = regions(X.nbytes)
        r = client.post("/v2/systemsharedmemory/region/in/register", json={"key": key, "byte_size": X.nbytes})
        assert r.status_code == 404
        r = client.post(INFER, json=shm_body("in", "out"))
        assert r.status_code == 400 and "extension is off" in r.json()["error"]
        assert not any("systemsharedmemory" in path for path in client.get("/openapi.json").json()["paths"])


# ---- tenants kept apart ---------------------------------------------------------------------------------------


def test_a_key_cannot_register_another_tenants_object(client, registered):
    """Alice's input and output objects are hers: bob can neither infer on her images nor have
    the server write into her output, whatever names he tries."""
    in_key, out_key, out_handle = registered
    bob = {"X-API-Key": "bob"}
    before = shm.get_contents_as_numpy(out_handle, np.float64, [4, 10]).copy()
    for name, key, size in (("hers", in_key, X.nbytes), ("her-out", out_key, 320)):
        r = client.post(f"/v2/systemsharedmemory/region/{name}/register", json={"key": key, "byte_size": size},
                        headers=bob)
        assert r.status_code == 404, r.text
    assert client.get("/v2/systemsharedmemory/status", headers=bob).json() == []
    r = client.post(INFER, json=shm_body("hers", "her-out"), headers=bob)
    assert r.status_code == 400 and "no shared-memory region named 'hers'" in r.json()["error"]
    assert np.array_equal(shm.get_contents_as_numpy(out_handle, np.float64, [4, 10]), before)
    assert prefix_of(client, bob) != prefix_of(client)


def test_an_error_quotes_no_byte_of_an_object(client, regions):
    """The value-range refusal names no value: it is no way to read an object's bytes."""
    key, handle = regions(X.nbytes, prefix_of(client))
    secret = X.copy()
    secret[0, 0, 0, :4] = [7.25, 3.5, -2.125, 1234.5]
    shm.set_shared_memory_region(handle, [secret])
    client.post("/v2/systemsharedmemory/region/in/register", json={"key": key, "byte_size": X.nbytes})
    body = {"inputs": [{"name": "images", "shape": list(X.shape), "datatype": "FP32",
                        "parameters": {"shared_memory_region": "in", "shared_memory_byte_size": X.nbytes}}]}
    r = client.post(INFER, json=body)
    assert r.status_code == 422 and "[0, 1]" in r.json()["error"], r.text
    assert not any(value in r.text for value in ("7.25", "1234", "-2.12", "3.5")), r.text


def test_anonymous_callers_have_no_shared_memory(tmp_path, regions):
    """All anonymous callers would share one registry (one name): they get none."""
    settings = ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, allow_shared_memory=True,
                              api_keys={"alice": None})
    with TestClient(create_app(settings)) as anonymous:
        meta, weights, _ = versioned()
        upload(anonymous, meta, weights)
        deploy(anonymous, meta.version)
        key, _ = regions(X.nbytes)
        r = anonymous.post("/v2/systemsharedmemory/region/in/register", json={"key": key, "byte_size": X.nbytes})
        assert r.status_code == 401 and list(r.json()) == ["error"], r.text
        assert anonymous.get("/v2/systemsharedmemory/status").status_code == 401
        r = anonymous.post(INFER, json=shm_body("in", "out"))
        assert r.status_code == 401 and "anonymous" in r.json()["error"], r.text
        assert json_probabilities(anonymous).shape == (4, 10)  # anonymous inference itself is served
        paths = anonymous.get("/openapi.json").json()["paths"]
        assert paths["/v2/systemsharedmemory/status"]["get"]["security"] == [{"TenantAPIKey": []}]
        assert {} in paths["/v2/models/{name}/infer"]["post"]["security"]


def test_region_descriptors_are_capped_in_total_not_only_per_key(tmp_path, regions):
    settings = ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN, allow_shared_memory=True,
                              api_keys={"alice": None, "bob": None}, max_shared_memory_regions=2,
                              max_shared_memory_regions_total=3)
    with TestClient(create_app(settings)) as client:
        def register(who: str, name: str) -> int:
            headers = {"X-API-Key": who}
            key, _ = regions(16, prefix_of(client, headers))
            return client.post(f"/v2/systemsharedmemory/region/{name}/register", json={"key": key, "byte_size": 16},
                               headers=headers).status_code

        assert [register("alice", "a1"), register("alice", "a2"), register("alice", "a3")] == [200, 200, 409]
        assert register("bob", "b1") == 200
        assert register("bob", "b2") == 503  # within bob's own limit, past the server's total
        client.post("/v2/systemsharedmemory/unregister", headers={"X-API-Key": "alice"})
        assert register("bob", "b2") == 200
