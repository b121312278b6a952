"""Model architectures and the registry that builds them from metadata."""

from shared.models.registry import ARCHITECTURES, build_model, expected_state_shapes

__all__ = ["ARCHITECTURES", "build_model", "expected_state_shapes"]
