"""The label-only attack: how far each input lies from its class's boundary, before and after.

When the server answers with labels only (one-hot, or a lone top-1 probability), no probability
can be optimised or compared. What labels still show is *where the decision changes*. For each
input x and each of K random unit directions u (L2 norm 1 in pixel space), `BoundaryDistance`
measures the smallest step t in [0, max_radius] at which the label of clip(x + t u, 0, 1) differs
from the label of x, by binary search on labels alone (the label-only membership-inference
measurement of Choquette-Choo et al., with random directions). Unlearning class c shrinks c's
region, so the inputs labelled c come closer to its boundary: the class whose inputs' log
distances fall most is ranked first.

The invariant: a comparison of two versions uses the same inputs and the same directions, drawn
from one seed and saved with the run (boundary.json, boundary-inputs.npz), so a change of distance
is a change of the model, never of the measurement. Each measurement is one version's
(`boundaries/<version>.npz`, the client pinned to it).

One idea per module: `distance` (the measurement), `inputs` (where the inputs come from),
`statistics` (scores from two measurements), `store` (the run's inputs and measurements on disk),
`attack` (choosing the inputs, measuring a version, the report). The campaign
(attacker/campaign.py) drives it as it drives the probes.
"""
