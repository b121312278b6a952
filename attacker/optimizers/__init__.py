"""Black-box optimisers that turn noise into probes: inputs the model assigns to one class with
high confidence, using only the probabilities it returns. One optimiser per module."""

from attacker.optimizers.base import BlackBox, ProbeOptimizer, ProbeResult
from attacker.optimizers.zoo import Zoo

OPTIMIZERS: dict[str, type[ProbeOptimizer]] = {"zoo": Zoo}

__all__ = ["OPTIMIZERS", "BlackBox", "ProbeOptimizer", "ProbeResult", "Zoo"]
