import pickle

import pytest
import torch
from safetensors.torch import save as save_safetensors

from shared.artifacts import (
    InvalidArtifact,
    content_version,
    load_version,
    model_from_bytes,
    save_version,
    weights_to_bytes,
)
from tests.conftest import make_meta, make_model


def test_round_trip_gives_identical_outputs_and_metadata(tmp_path, tiny_meta):
    model = make_model(tiny_meta)
    path = save_version(tmp_path / "v", model, tiny_meta)
    assert sorted(p.name for p in path.iterdir()) == ["metadata.json", "model.safetensors"]
    loaded, meta = load_version(path)
    assert meta == tiny_meta
    x = torch.rand(4, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


def test_a_rewrite_leaves_no_temporary_directories(tmp_path, tiny_meta):
    save_version(tmp_path / "v", make_model(tiny_meta), tiny_meta)
    save_version(tmp_path / "v", make_model(tiny_meta, seed=1), tiny_meta)
    assert [p.name for p in tmp_path.iterdir()] == ["v"]


def test_content_version_depends_on_weights_only_through_content(tiny_meta):
    a, b = weights_to_bytes(make_model(tiny_meta)), weights_to_bytes(make_model(tiny_meta, seed=1))
    assert content_version(a, tiny_meta) == content_version(a, tiny_meta.model_copy(update={"version": "other"}))
    assert content_version(a, tiny_meta) != content_version(b, tiny_meta)


def _state(meta):
    return {k: v.clone() for k, v in make_model(meta).state_dict().items()}


@pytest.mark.parametrize("corrupt, message", [
    (lambda s: s.pop("network.0.weight"), "missing"),
    (lambda s: s.update(extra=torch.zeros(1)), "unexpected"),
    (lambda s: s.update({"network.0.weight": torch.zeros(4, 3, 5, 5)}), "network.0.weight"),
    (lambda s: s.update({"network.0.weight": s["network.0.weight"].double()}), "float64"),
    (lambda s: s["network.0.weight"].view(-1)[0].fill_(float("nan")), "NaN"),
])
def test_weights_that_do_not_fit_the_architecture_are_refused(tiny_meta, corrupt, message):
    state = _state(tiny_meta)
    corrupt(state)
    with pytest.raises(InvalidArtifact, match=message):
        model_from_bytes(tiny_meta, save_safetensors(state))


def test_weights_of_another_width_are_refused(tiny_meta):
    other = make_meta(width=8)
    with pytest.raises(InvalidArtifact):
        model_from_bytes(tiny_meta, weights_to_bytes(make_model(other)))


@pytest.mark.parametrize("payload", [b"", b"not safetensors at all", pickle.dumps({"a": 1})])
def test_non_safetensors_bytes_are_refused_without_unpickling(tiny_meta, payload):
    with pytest.raises(InvalidArtifact, match="safetensors"):
        model_from_bytes(tiny_meta, payload)


def test_truncated_weights_are_refused(tiny_meta):
    data = weights_to_bytes(make_model(tiny_meta))
    with pytest.raises(InvalidArtifact):
        model_from_bytes(tiny_meta, data[: len(data) // 2])
