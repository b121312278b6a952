"""Code every service needs: wire schemas, model architectures, data loading, artifact format.

`shared.schemas` is pure pydantic + numpy and safe for the attacker. `shared.models`,
`shared.data` and `shared.artifacts` touch weights or data; the attacker never imports them
(an import-linter contract enforces it).
"""
