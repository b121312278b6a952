"""The model developer: trains on D0, fine-tunes on D_u, unlearns on request, pushes versions."""
