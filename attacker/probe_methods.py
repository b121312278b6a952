"""The probe methods by name (in the manner of IBM ART's attacks: a class per method, with declared
parameters): `zoo` and `nes` optimise synthetic probes, `natural` picks public images. Each fills a
probe set against the version the client is pinned to; their parameter models are the union
`ProbeMethodParams` (shared/schemas/probe_methods.py), from which the CLI's flags come."""

from __future__ import annotations

import typing

from attacker.natural_probes import NaturalProbes
from attacker.probing import OptimisedProbes
from shared.schemas import NaturalParams, ProbeMethodParams

# name -> parameter model, in the union's order (zoo, nes, natural)
METHOD_PARAMS = {cls.model_fields["name"].default: cls
                 for cls in typing.get_args(typing.get_args(ProbeMethodParams)[0])}


def probe_method(params: ProbeMethodParams) -> OptimisedProbes | NaturalProbes:
    return NaturalProbes(params) if isinstance(params, NaturalParams) else OptimisedProbes(params)
