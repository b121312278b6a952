"""The attacker: an ordinary API user who infers which class a deletion request removed.

It knows only the public HTTP API: it never touches weights, data, or the truth. Its library
API is attacker/api.py, re-exported here; `python -m attacker` is its command line.
"""

from attacker.api import *  # noqa: F403  (the public names: attacker/api.py's __all__)
from attacker.api import __all__  # noqa: F401
