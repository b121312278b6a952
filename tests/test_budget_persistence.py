"""Query budgets persist in SQLite: a restart or a kill -9 keeps what each key used; concurrent
charges never overshoot; the window slides (no twice the limit around a boundary) and a clock
that steps back opens no fresh one; every inference path (/v1, /v2) is keyed and charged alike."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.budget import BUDGET_FILE, SLOTS, BudgetExceeded, QueryBudget
from server.settings import ServerSettings
from tests.conftest import ServerProcess
from tests.helpers import AUTH, TOKEN, deploy, predict_body, upload, versioned

X = np.full((8, 3, 32, 32), 0.5, np.float32)
INFER = "/v2/models/classifier/infer"


def v1(n: int) -> dict:
    return predict_body(X[:n])


def v2(n: int) -> dict:
    return {"inputs": [{"name": "images", "shape": [n, 3, 32, 32], "datatype": "FP32",
                        "data": X[:n].ravel().tolist()}]}


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---- the budget itself ---------------------------------------------------------------------------------


def test_a_new_instance_on_the_same_file_continues_the_window(tmp_path):
    clock = FakeClock()
    path = tmp_path / BUDGET_FILE
    assert QueryBudget(path, 60, clock).charge("k", 10, 6) == 4
    clock.now += 30
    again = QueryBudget(path, 60, clock)  # what a restarted server builds
    assert again.remaining("k", 10) == 4
    with pytest.raises(BudgetExceeded) as exc:
        again.charge("k", 10, 5)
    assert exc.value.retry_after == 30  # when the first 6 images leave the window
    assert again.charge("k", 10, 4) == 0
    clock.now += 30  # the first charge has left the window; the second has not
    assert again.remaining("k", 10) == 6
    assert again.charge("k", 10, 6) == 0
    clock.now += 30
    assert again.charge("k", 10, 4) == 0


def test_refused_charges_change_nothing_and_a_whole_budget_fits(tmp_path):
    budget = QueryBudget(tmp_path / BUDGET_FILE, 60, FakeClock())
    for images in (6, 100):
        with pytest.raises(BudgetExceeded):
            budget.charge("k", 5, images)
    assert budget.remaining("k", 5) == 5
    assert budget.charge("k", 5, 5) == 0


def test_a_clock_that_steps_back_opens_no_fresh_window(tmp_path):
    clock = FakeClock()
    budget = QueryBudget(tmp_path / BUDGET_FILE, 60, clock)
    budget.charge("k", 5, 5)
    clock.now -= 3600  # NTP, a VM restored from a snapshot, an operator
    assert budget.remaining("k", 5) == 0
    with pytest.raises(BudgetExceeded) as exc:
        budget.charge("k", 5, 2)
    assert exc.value.retry_after >= 3600  # the images count until the clock has passed them again
    clock.now += 3600 + 60
    assert budget.charge("k", 5, 2) == 3


def test_no_twice_the_limit_around_a_window_boundary(tmp_path):
    """The fixed-window exploit: open a window with one image, spend the rest just before it ends
    and the whole limit again just after. The window slides: the second burst is refused."""
    clock = FakeClock()
    budget = QueryBudget(tmp_path / BUDGET_FILE, 3600, clock)
    budget.charge("k", 100, 1)
    clock.now += 3600 - 1
    budget.charge("k", 100, 99)
    clock.now += 2
    with pytest.raises(BudgetExceeded) as exc:
        budget.charge("k", 100, 100)
    assert exc.value.retry_after >= 3600 - 2 - 3600 // SLOTS
    assert budget.charge("k", 100, 1) == 0  # only the image that left the window came back


def test_no_span_shorter_than_the_window_holds_more_than_the_limit(tmp_path):
    """Charges at random moments, for ten windows: whatever was granted within any span shorter
    than W(1 - 1/SLOTS) is within the limit."""
    clock, window, limit = FakeClock(), 600, 50
    budget = QueryBudget(tmp_path / BUDGET_FILE, window, clock)
    rng = np.random.default_rng(0)
    granted: list[tuple[float, int]] = []
    while clock.now < FakeClock().now + 10 * window:
        clock.now += float(rng.exponential(window / 40))
        images = int(rng.integers(1, 20))
        try:
            budget.charge("k", limit, images)
        except BudgetExceeded:
            continue
        granted.append((clock.now, images))
    span = window * (1 - 1 / SLOTS)
    times = np.array([t for t, _ in granted])
    counts = np.array([n for _, n in granted])
    worst = max(counts[(times >= t) & (times < t + span)].sum() for t in times)
    assert worst <= limit
    assert counts.sum() > 5 * limit  # the budget refilled as the window slid: it was not just refusing


def test_keys_are_not_stored_in_clear(tmp_path):
    path = tmp_path / BUDGET_FILE
    QueryBudget(path, 60, FakeClock()).charge("key:secret-key-123", 5, 1)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute("SELECT caller, used FROM budget_slots").fetchall()
    assert len(rows) == 1 and rows[0][1] == 1 and "secret" not in rows[0][0]
    assert all(b"secret-key-123" not in p.read_bytes() for p in tmp_path.iterdir())


def test_concurrent_charges_never_overshoot(tmp_path):
    """Two budgets on one file (two server processes) and 16 threads, charging 1 to 3 images at a
    time against a limit of 500: exactly the charges that fit succeed, none past the limit."""
    path = tmp_path / BUDGET_FILE
    budgets = [QueryBudget(path, 3600, FakeClock()) for _ in range(2)]
    start = threading.Barrier(16)

    def worker(i: int) -> int:
        budget, charged = budgets[i % 2], 0
        start.wait(timeout=30)
        for j in range(60):
            images = 1 + (i + j) % 3
            try:
                left = budget.charge("k", 500, images)
            except BudgetExceeded:
                continue
            assert left >= 0
            charged += images
        return charged

    with ThreadPoolExecutor(16) as pool:
        charged = sum(pool.map(worker, range(16), timeout=120))
    used = 500 - budgets[0].remaining("k", 500)
    assert used == charged  # every success recorded, nothing recorded twice
    assert charged == 500  # 16 x 60 x ~2 images were asked for, 1-image ones until the end: it filled up


# ---- through the server ------------------------------------------------------------------------------------


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def served(tmp_path, clock):
    store = tmp_path / "store"
    with TestClient(create_app(ServerSettings(store_dir=store, admin_token=TOKEN))) as setup:
        meta, weights, _ = versioned()
        upload(setup, meta, weights)
        deploy(setup, meta.version)
    settings = ServerSettings(store_dir=store, admin_token=TOKEN, api_keys={"alice": 10, "bob": None},
                              allow_anonymous=False, budget_window_s=3600, max_body_bytes=2**20,
                              max_upload_bytes=4096)
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client


@pytest.mark.parametrize("path, body", [("/v1/predict", v1), (INFER, v2)])
def test_every_inference_path_needs_a_known_key(served, path, body):
    r = served.post(path, json=body(1))
    assert r.status_code == 401
    r = served.post(path, json=body(1), headers={"X-API-Key": "mallory"})
    assert r.status_code == 401 and "unknown API key" in r.text
    if path.startswith("/v2"):
        assert list(r.json()) == ["error"]  # the protocol's error shape


def test_v1_and_v2_draw_on_one_budget_and_429_past_it(served, clock):
    alice = {"X-API-Key": "alice"}
    start = clock.now
    r = served.post("/v1/predict", json=v1(4), headers=alice)
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "6"
    r = served.post(INFER, json=v2(5), headers=alice)
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "1"
    clock.now += 600
    r = served.post(INFER, json=v2(2), headers=alice)
    assert r.status_code == 429 and list(r.json()) == ["error"] and "budget of 10 images" in r.json()["error"]
    slot = 3600 / SLOTS  # the first 9 images leave the window 3600 s after their slot's start
    assert r.headers["retry-after"] == str(math.ceil(start // slot * slot + 3600 - clock.now))
    bad = v2(1)
    bad["inputs"][0]["data"] = [2.0] * 3072
    assert served.post(INFER, json=bad, headers=alice).status_code == 422  # invalid: not charged
    assert served.post(INFER, json=v2(1), headers=alice).headers["x-budget-remaining"] == "0"
    assert served.post(INFER, json=v2(8), headers={"X-API-Key": "bob"}).status_code == 200  # unlimited
    clock.now += 3000  # the first 9 images have left the window; the 1 charged at +600 s has not
    r = served.post(INFER, json=v2(8), headers=alice)
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "1"


def test_a_clock_stepping_back_reopens_no_window_for_a_client(served, clock):
    alice = {"X-API-Key": "alice"}
    assert served.post("/v1/predict", json=v1(8), headers=alice).status_code == 200
    assert served.post(INFER, json=v2(2), headers=alice).status_code == 200
    clock.now -= 3600
    r = served.post("/v1/predict", json=v1(1), headers=alice)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 3600


def test_a_client_gets_no_second_budget_across_a_window_boundary(served, clock):
    """One image opens a window, nine more just before its end, ten again just after: with
    fixed windows the last ten were granted (19 images in two seconds against a budget of 10)."""
    alice = {"X-API-Key": "alice"}
    assert served.post("/v1/predict", json=v1(1), headers=alice).status_code == 200
    clock.now += 3599
    assert served.post("/v1/predict", json=v1(8), headers=alice).status_code == 200
    assert served.post(INFER, json=v2(1), headers=alice).status_code == 200
    clock.now += 2
    assert served.post("/v1/predict", json=v1(8), headers=alice).status_code == 429
    r = served.post("/v1/predict", json=v1(1), headers=alice)  # only the first image has left the window
    assert r.status_code == 200 and r.headers["x-budget-remaining"] == "0"


def test_oversized_bodies_are_413(served):
    r = served.post(INFER, content=b"{" + b" " * 2**20 + b"}", headers={"X-API-Key": "alice"})
    assert r.status_code == 413 and list(r.json()) == ["error"] and "limit of 1048576 bytes" in r.json()["error"]
    meta, weights, _ = versioned(seed=1)
    r = upload(served, meta, weights)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert [m["version"] for m in served.get("/admin/models", headers=AUTH).json()] != [meta.version]
    assert served.post(INFER, json=v2(1), headers={"X-API-Key": "alice"}).headers["x-budget-remaining"] == "9"


@pytest.mark.slow
def test_kill_9_and_restart_keep_the_remaining_budget(tmp_path):
    env = {"UIA_SERVER_API_KEYS": json.dumps({"alice": 10}), "UIA_SERVER_ALLOW_ANONYMOUS": "false"}
    alice = {"X-API-Key": "alice"}
    server = ServerProcess(tmp_path / "store", extra_env=env).start()
    try:
        meta, weights, _ = versioned()
        with server.admin() as admin:
            upload(admin, meta, weights)
            deploy(admin, meta.version)
        r = httpx.post(f"{server.url}/v1/predict", json=v1(3), headers=alice, timeout=60)
        assert r.status_code == 200 and r.headers["x-budget-remaining"] == "7"
        r = httpx.post(f"{server.url}{INFER}", json=v2(3), headers=alice, timeout=60)
        assert r.status_code == 200 and r.headers["x-budget-remaining"] == "4"
        server.kill()  # SIGKILL: no shutdown code runs
    finally:
        server.stop()
    server = ServerProcess(tmp_path / "store", extra_env=env).start()
    try:
        r = httpx.post(f"{server.url}/v1/predict", json=v1(5), headers=alice, timeout=60)
        assert r.status_code == 429 and "(6 used)" in r.json()["detail"]
        r = httpx.post(f"{server.url}{INFER}", json=v2(4), headers=alice, timeout=60)
        assert r.status_code == 200 and r.headers["x-budget-remaining"] == "0"
    finally:
        server.stop()
