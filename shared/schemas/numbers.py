"""JSON numbers as the wire schemas take them: every number the JSON decoder accepts is checked,
by its schema, before anything converts it.

Invariant: a number reaches numpy or Python arithmetic only once pydantic has checked it to be
what the schema says. A JSON integer of 400 digits, `true`, `"0.5"` or an `Infinity` literal in
tensor data is a validation error (a 4xx that names where it is), never an `OverflowError` in a
conversion (a 500).

Tensor data stops at its first bad number (`FailFast`): a 64 MiB body of `true,true,...` would
otherwise build millions of error objects, gigabytes of them.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, FailFast, Field
from typing_extensions import TypeAliasType


def _json_integer(value: Any) -> Any:
    """JSON Schema's integer: 3 and 3.0, not true, "3" or 3.5 (pydantic's lax int takes the first
    two, its strict int refuses 3.0; the schema must mean what the server accepts)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be an integer")
    if isinstance(value, float) and not value.is_integer():  # also refuses inf and NaN
        raise ValueError("must be a whole number")
    return int(value)


def json_int(**constraints: Any) -> Any:
    """An integer field type in JSON Schema's sense, with Field constraints (ge=...) that the
    schema shows as minimum/maximum (they must come before the validator for that)."""
    return Annotated[int, Field(**constraints), BeforeValidator(_json_integer)]


# A tensor element: a JSON number (an integer is one) that float64 holds finitely. Strict: no
# booleans, no strings. A 400-digit integer does not fit a float: "Input should be a finite number".
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _listed(item: Any) -> Any:
    return Annotated[list[item], FailFast()]


# named aliases: a Union of Annotated[..., FailFast()] would need FailFast to be hashable
FlatTensorData = TypeAliasType("FlatTensorData", _listed(Number))
Tensor4dData = TypeAliasType("Tensor4dData", _listed(_listed(_listed(_listed(Number)))))
# the Open Inference Protocol's `data`: row-major, flat or nested to the tensor's four dimensions
TensorData = Union[FlatTensorData, Tensor4dData]
