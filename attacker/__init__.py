"""The attacker: an ordinary API user who infers which class a deletion request removed.

It knows only the public HTTP API: it never touches weights, data, or the truth.
"""
