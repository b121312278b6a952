"""Schemathesis hooks of the run from outside (`devtools/fuzz.py`): the semantic-refusal check."""

import schemathesis

from devtools.fuzz_contract import semantic_refusals_are_documented

schemathesis.check(semantic_refusals_are_documented)
