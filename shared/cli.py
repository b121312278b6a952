"""Command-line flags derived from pydantic models: one declaration per setting.

`add_model_flags(parser, Model)` adds one flag per field (`--field-name`, dest = the field name,
help = the field's description and default, choices from a `Literal`, `--x/--no-x` for booleans).
Every flag defaults to None, so `flag_values(args, Model)` returns only what the user typed: the
caller layers it over the environment and the model's defaults, and pydantic validates the
result. A flag therefore never carries a default of its own that could disagree with the model.
"""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo


def _plain(annotation: Any) -> Any:
    """int | None -> int; Annotated[...] is already unwrapped by pydantic."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _plain(args[0])
    return annotation


def _help(info: FieldInfo, extra: str | None, show_default: bool) -> str:
    text = info.description or ""
    if extra:
        text = f"{text} ({extra})" if text else extra
    default = info.get_default(call_default_factory=False)
    if show_default and default is not None and not isinstance(default, (BaseModel, dict, list, SecretStr)) \
            and not info.is_required():
        text = f"{text} (default {default})" if text else f"default {default}"
    return text.replace("%", "%%")


def add_model_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, model: type[BaseModel], *,
                    only: tuple[str, ...] | None = None, skip: tuple[str, ...] = (),
                    aliases: dict[str, tuple[str, ...]] | None = None, prefix: str = "",
                    notes: dict[str, str] | None = None, show_defaults: bool = True) -> list[str]:
    """Add a flag for each field of `model` (or those in `only`, minus `skip`); returns the dests."""
    dests = []
    for name, info in model.model_fields.items():
        if (only is not None and name not in only) or name in skip:
            continue
        flags = [f"--{prefix}{name.replace('_', '-')}", *(aliases or {}).get(name, ())]
        kind = _plain(info.annotation)
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": _help(info, (notes or {}).get(name), show_defaults)}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) is Literal:
            kwargs["choices"] = list(typing.get_args(kind))
        elif typing.get_origin(kind) in (list, tuple):
            kwargs["nargs"] = "*"
        elif kind in (int, float, str, Path):
            kwargs["type"] = kind
        elif kind is SecretStr:
            kwargs["type"] = str
        else:
            raise TypeError(f"no command-line form for field {name!r} of type {kind!r}")
        parser.add_argument(*flags, **kwargs)
        dests.append(name)
    return dests


def flag_values(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The fields of `model` that were given on the command line (not None)."""
    return {name: getattr(args, name) for name in model.model_fields if getattr(args, name, None) is not None}
