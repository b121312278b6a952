"""Naming a class: by its name, or by its index in the model's class list.

One rule for every program (the developer's deletion requests, the attacker's `--classes`, the
operator's `--labels`): a name that is in the list wins; otherwise a whole number below the
number of classes is an index; anything else is an error that lists the classes.
"""

from __future__ import annotations

from collections.abc import Sequence


def class_index(name: str | int, classes: Sequence[str], what: str = "class") -> int:
    if isinstance(name, str) and name in classes:
        return list(classes).index(name)
    if isinstance(name, int) or name.isdigit():
        index = int(name)
        if 0 <= index < len(classes):
            return index
    raise ValueError(f"unknown {what} {name!r}; the classes are {', '.join(classes)}")
