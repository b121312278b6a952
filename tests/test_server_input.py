"""Every number the JSON decoder accepts and every header the server parses is checked before any
conversion: a clear 4xx that says what is wrong, never a 500. And the OpenAPI schema says what the
server enforces: the two requests schemathesis found valid but refused (an empty metadata part of
an upload, an empty X-Batch-Shape) are now refused by the schema too, or accepted."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from server.app import create_app
from server.settings import ServerSettings
from shared.schemas import PredictRequest
from tests.helpers import AUTH, TOKEN, asgi_request, deploy, predict_body, upload, versioned

HUGE = int("9" * 400)  # a JSON integer of 400 digits: Python reads it, float() cannot hold it
INFER = "/v2/models/classifier/infer"
X = np.full((1, 3, 32, 32), 0.5, np.float32)


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(ServerSettings(store_dir=tmp_path / "store", admin_token=TOKEN))) as client:
        meta, weights, _ = versioned()
        upload(client, meta, weights)
        deploy(client, meta.version)
        yield client


def nested(value) -> list:
    data = X.tolist()
    data[0][0][0][0] = value
    return data


@pytest.mark.parametrize("value, words", [(HUGE, "finite number"), (-HUGE, "finite number"),
                                          (True, "valid number"), ("0.5", "valid number"), (None, "valid number")])
def test_v1_json_numbers_are_checked_before_conversion(client, value, words):
    r = client.post("/v1/predict", json={"images": {"encoding": "json", "data": nested(value)}})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and words in r.json()["detail"]
    assert "data.0.0.0.0" in r.json()["detail"]  # where it is


@pytest.mark.parametrize("flat", [True, False])
@pytest.mark.parametrize("value", [HUGE, True, "0.5"])
def test_v2_json_numbers_are_checked_before_conversion(client, value, flat):
    data = nested(value)
    if flat:
        data = [value] + X.ravel().tolist()[1:]
    r = client.post(INFER, json={"inputs": [{"name": "images", "shape": [1, 3, 32, 32], "datatype": "FP32",
                                             "data": data}]})
    assert r.status_code == 400 and list(r.json()) == ["error"], r.text
    assert "number" in r.json()["error"]


def test_a_huge_body_of_bad_numbers_stops_at_the_first():
    """Validation collects no error past the first bad number: a body of a million `true`s costs
    one error, not a million (gigabytes of them)."""
    body = '{"images": {"encoding": "json", "data": [[[[' + ",".join(["true"] * 10**6) + "]]]]}}"
    with pytest.raises(ValidationError) as exc:
        PredictRequest.model_validate_json(body)
    assert exc.value.error_count() == 1


@pytest.mark.parametrize("value", [b"\xb2", b"\xb9\xb2", b"1_0", b"-5", b"0x10"])
def test_inference_header_content_length_is_read_as_ascii_digits(client, value):
    """The header's bytes as a socket brings them (an HTTP client would re-encode them): 0xB2 is
    '²' in latin-1, which passes str.isdigit and then fails int(). It was a 500."""
    header = json.dumps({"inputs": [{"name": "images", "shape": [1, 3, 32, 32], "datatype": "FP32",
                                     "parameters": {"binary_data_size": X.nbytes}}]}).encode()
    body = header + X.tobytes()

    def send(length: bytes) -> tuple[int, dict]:
        status, _, answer = asyncio.run(asyncio.wait_for(asgi_request(
            client.app, INFER, [(b"inference-header-content-length", length), (b"content-length", b"%d" % len(body))],
            [(0, body)], more_after=False), 30))
        return status, json.loads(answer)

    status, answer = send(value)
    assert status == 400 and "Inference-Header-Content-Length" in answer["error"], answer
    status, answer = send(b"%d" % len(header))
    assert status == 200, answer


@pytest.mark.parametrize("value", [b"", b"\xb2,3,32,32", b"1,3,32", b"1, 3,32,32", b"1_0,3,32,32", b"1,3,32,32,"])
def test_x_batch_shape_is_checked_whenever_it_is_sent(client, value):
    """With a binary body, and with a JSON one too: the schema gives the header a pattern, and the
    server holds every request to it."""
    r = client.post("/v1/predict", content=X.tobytes(), headers={"content-type": "application/octet-stream",
                                                                  "x-batch-shape": value})
    assert r.status_code == 422 and "X-Batch-Shape" in r.json()["detail"], r.text
    r = client.post("/v1/predict", json=predict_body(X), headers={"x-batch-shape": value})
    assert r.status_code == 422 and "X-Batch-Shape" in r.json()["detail"], r.text


def test_the_schema_states_the_header_patterns_and_the_upload_parts(client):
    paths = client.get("/openapi.json").json()["paths"]
    [shape] = [p for p in paths["/v1/predict"]["post"]["parameters"] if p["name"] == "X-Batch-Shape"]
    assert shape["schema"]["pattern"] == r"^[0-9]{1,10}(,[0-9]{1,10}){3}$"
    infer = paths["/v2/models/{name}/infer"]["post"]["parameters"]
    [length] = [p for p in infer if p["name"] == "Inference-Header-Content-Length"]
    assert length["schema"]["pattern"] == r"^[0-9]{1,19}$"
    form = paths["/admin/models"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["properties"]["metadata"] == {"$ref": "#/components/schemas/ModelMetadata"}
    assert form["encoding"]["metadata"]["contentType"] == "application/json"
    assert form["schema"]["additionalProperties"] is False


def test_an_upload_takes_the_metadata_as_the_schema_allows_it(client):
    """A JSON field, as schemathesis sends it, or a file part, as the developer does; an empty
    part is no JSON (schema-invalid) and a 422 that says so; an unknown part is refused."""
    meta, weights, _ = versioned(seed=7)
    as_field = {"metadata": (None, meta.model_dump_json(), "application/json"),
                "weights": ("model.safetensors", weights, "application/octet-stream")}
    r = client.post("/admin/models", files=as_field, headers=AUTH)
    assert r.status_code == 201 and r.json()["version"] == meta.version, r.text
    empty = {**as_field, "metadata": ("metadata.json", b"", "application/json")}
    r = client.post("/admin/models", files=empty, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "invalid_model" and "JSON" in r.json()["detail"]
    extra = {**as_field, "notes": (None, "hello", "text/plain")}
    r = client.post("/admin/models", files=extra, headers=AUTH)
    assert r.status_code == 422 and "notes" in r.json()["detail"]


def test_a_refused_batch_is_not_quoted_back(client):
    """The value-range refusal names no value: images may come from a shared-memory object, and
    an error message must be no way to read an object's bytes."""
    batch = X.copy()
    batch[0, 0, 0, :3] = [7.25, -2.125, 1234.5]
    r = client.post("/v1/predict", json=predict_body(batch))
    assert r.status_code == 422 and "[0, 1]" in r.json()["detail"], r.text
    assert not any(value in r.text for value in ("7.25", "-2.12", "1234", "0.5")), r.text
