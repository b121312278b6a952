"""White-box feature recovery: the server operator reconstructs unlearned images from two stored versions.

The honest-but-curious MLaaS operator keeps every version it ever deployed (server/model_store.py).
Given the original θ and the unlearned θ_u, the parameter difference θ_u − θ points along the
gradient of the loss on the forgotten samples X; this package searches for images whose gradient
points the same way (METHOD.md, "Feature recovery").

Invariant: this package reads only what the operator holds — the two versions' safetensors and
metadata files — and never imports the developer (who owns the data), the evaluation side (which
alone holds the true images), the attacker or the server (import-linter contracts in pyproject.toml).
"""
