"""The import contracts name the default attacker module by module (so that the opt-in shadow
sub-package, which trains with torch, can sit inside `attacker` without the default attacker
ever importing it). This checks that the list stays complete as modules are added."""

from __future__ import annotations

import pkgutil
import tomllib

import attacker
from tests.conftest import ROOT


def _contract(name_start: str) -> dict:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"].startswith(name_start))


def test_the_black_box_contract_covers_every_module_of_the_default_attacker():
    modules = {f"attacker.{m.name}" for m in pkgutil.iter_modules(attacker.__path__) if m.name != "shadow"}
    contract = _contract("The attacker touches no weights")
    assert set(contract["source_modules"]) == modules
    assert {"torch", "attacker.shadow"} <= set(contract["forbidden_modules"])


def test_the_package_itself_only_re_exports_the_public_api():
    """`attacker/__init__.py` is not among the contract's modules (listing the package would list
    the shadow sub-package too), so it may import nothing but attacker/api.py, which is."""
    source = (ROOT / "attacker" / "__init__.py").read_text()
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and all(line.startswith("from attacker.api import ") for line in imports), imports


def test_the_shadow_sub_package_has_its_own_contract():
    contract = _contract("The attacker's shadow models")
    assert contract["source_modules"] == ["attacker.shadow"]
    assert {"server", "developer", "shared.data", "shared.artifacts", "evaluation"} <= set(contract["forbidden_modules"])
