"""The evaluation side: the only package that holds the truth (the images that were really forgotten).

It scores what the attacks produce against that truth. No service imports it (import-linter
contract in pyproject.toml): the server, the developer, the black-box attacker and the white-box
recovery never see a score, so none of them can tune itself on one.
"""
