import base64

import numpy as np
import pytest
from pydantic import ValidationError

from shared.schemas import Float32Batch, JsonBatch, ModelMetadata, PredictRequest
from tests.conftest import make_meta


def test_float32_encoding_carries_zoo_perturbations_bit_for_bit():
    rng = np.random.default_rng(0)
    x = rng.random((8, 3, 32, 32), dtype=np.float32)
    batch = np.repeat(x[:1], 8, axis=0)
    batch[np.arange(8), 0, 0, np.arange(8)] += np.float32(1e-4)
    decoded = PredictRequest.model_validate_json(
        PredictRequest(images=Float32Batch.from_array(batch)).model_dump_json()).images.to_array()
    assert decoded.dtype == np.float32
    assert np.array_equal(decoded, batch)
    assert np.array_equal(decoded[1] - decoded[0] != 0, (batch[1] - batch[0]) != 0)


def test_json_encoding_round_trips():
    x = np.random.default_rng(1).random((2, 1, 4, 4), dtype=np.float32)
    assert np.array_equal(JsonBatch.from_array(x).to_array(), x)


@pytest.mark.parametrize("data, shape, message", [
    ("!!!not base64!!!", [1, 3, 2, 2], "base64"),
    (base64.b64encode(b"\0" * 10).decode(), [1, 3, 2, 2], "bytes"),
])
def test_float32_batch_errors_say_what_is_wrong(data, shape, message):
    with pytest.raises(ValueError, match=message):
        Float32Batch(encoding="float32-base64", shape=shape, data=data).to_array()


@pytest.mark.parametrize("data", [[[1, 2], [3]], [["a"]], [1.0, 2.0]])
def test_json_batch_of_wrong_structure_is_refused(data):
    with pytest.raises(ValueError):
        JsonBatch(encoding="json", data=data).to_array()


def test_request_needs_a_known_encoding_and_a_4d_shape():
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"images": {"encoding": "float16", "data": ""}})
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"images": {"encoding": "float32-base64", "shape": [3, 32, 32], "data": ""}})
    with pytest.raises(ValidationError):
        PredictRequest.model_validate({"images": {"encoding": "json", "data": []}, "extra": 1})


def test_metadata_is_checked_for_consistency():
    meta = make_meta()
    assert ModelMetadata.model_validate_json(meta.model_dump_json()) == meta
    bad = meta.model_dump()
    bad["normalization"] = {"mean": [0.5], "std": [0.2]}
    with pytest.raises(ValidationError, match="channels"):
        ModelMetadata.model_validate(bad)
    for field, value in [("version", "../../etc"), ("classes", ["a", "a"]), ("input_shape", [3, 4, 4]),
                         ("architecture", {"name": "resnet", "width": 4})]:
        with pytest.raises(ValidationError):
            ModelMetadata.model_validate({**meta.model_dump(), field: value})


def test_public_info_discloses_no_training_details():
    meta = make_meta(parent="tiny-0", training={"stage": "unlearned", "test_accuracy": 0.5})
    info = meta.public_info().model_dump()
    assert set(info) == {"version", "input_shape", "classes", "value_range", "output"}
    assert "unlearned" not in str(info) and "0.5" not in str(info)


def test_one_rule_names_a_class_in_every_program():
    from shared.classes import class_index

    classes = ["cat", "7", "dog"]
    assert class_index("dog", classes) == 2 and class_index(1, classes) == 1 and class_index("0", classes) == 0
    assert class_index("7", classes) == 1  # a name in the list wins over reading it as an index
    for bad in ("unicorn", 3, "-1"):
        with pytest.raises(ValueError, match="unknown class .*the classes are cat, 7, dog"):
            class_index(bad, classes)
