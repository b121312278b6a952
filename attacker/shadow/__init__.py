"""Shadow calibration: the attacker's own models, trained on its public data (opt-in; needs torch).

The only part of the attacker that trains. It may use torch, the public model code and the
attacker's public data; it never imports the server, the developer, the artifact store or
any dataset code (import-linter), and the default attacker never imports it: it reads the
`shadow.json` this writes with numpy alone (attacker/calibration.py).
"""

from attacker.shadow.calibrate import calibrate_run
from attacker.shadow.training import probabilities

__all__ = ["calibrate_run", "probabilities"]
