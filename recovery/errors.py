"""The one error type of the recovery: bad input, reported with a message that says what was wrong.

Raised before any optimisation starts, so that a bad invocation writes no output at all.
"""

from __future__ import annotations


class RecoveryInputError(ValueError):
    """The versions (or options) given cannot be used for a recovery; the message says why."""
