"""Derived schemas: one model is the source of truth, its variants are computed from it.

`overrides_of(Model)` is the FastAPI template's `ItemBase` -> `ItemUpdate` step done by code
instead of by hand: every field becomes optional with default None (None = "keep the base
value"), and keeps its type, its constraints and its description. Adding a field to the base
model adds it to every variant; nothing is spelled twice.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model


def overrides_of(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[field_name] = (annotation | None, Field(None, description=info.description))
    derived = create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=doc, **fields)
    derived.__module__ = model.__module__
    return derived
