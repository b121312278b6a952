"""Black-box optimisers that turn noise into probes: inputs the model assigns to one class with
high confidence, using only the probabilities it returns. One optimiser per module."""

from attacker.optimizers.base import BlackBox, ProbeOptimizer, ProbeResult
from attacker.optimizers.nes import LowResNES
from attacker.optimizers.zoo import Zoo

OPTIMIZERS: dict[str, type[ProbeOptimizer]] = {cls.name: cls for cls in (Zoo, LowResNES)}

__all__ = ["OPTIMIZERS", "BlackBox", "LowResNES", "ProbeOptimizer", "ProbeResult", "Zoo"]
