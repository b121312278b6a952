"""Print the project's runtime requirements, one per line, for an image or a wheelhouse.

    python3 docker/requirements.py [EXTRA ...]     e.g. `ml` for the server's and developer's image

The names come from pyproject.toml (dependencies plus the named extras) and the versions from
constraints.txt, applied by `pip install -c`: the images install exactly what `make install`
pins, with no second list to keep in step. Self-references such as `unlearning-inversion[ml]`
are expanded, never printed. Standard library only: it runs on a bare base image.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def requirements(pyproject: dict, extras: list[str]) -> list[str]:
    project = pyproject["project"]
    name, optional = project["name"], project.get("optional-dependencies", {})
    out: list[str] = list(project.get("dependencies", []))
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"error: pyproject.toml has no extra {extra!r} (it has {', '.join(optional)})")
        seen.add(extra)
        for req in optional[extra]:
            own = re.fullmatch(rf"{re.escape(name)}\[([^\]]+)\]", req.replace(" ", ""))
            if own:  # `unlearning-inversion[ml,compose]`: this project's own extras
                pending.extend(own.group(1).split(","))
            else:
                out.append(req)
    return list(dict.fromkeys(out))


def main() -> None:
    here = Path(__file__).resolve().parent  # docker/ in the repository; next to its copy in an image build
    path = next((p for p in (here / "pyproject.toml", here.parent / "pyproject.toml") if p.exists()), None)
    if path is None:
        raise SystemExit(f"error: no pyproject.toml in {here} or {here.parent}")
    print("\n".join(requirements(tomllib.loads(path.read_text()), sys.argv[1:])))


if __name__ == "__main__":
    main()
