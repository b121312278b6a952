"""Entrypoint of the server's and developer's images: fill the tokens in from files, then run the command.

    python /usr/local/bin/uia-tokens python -m server serve

For every environment variable `UIA_<NAME>_TOKEN_FILE` whose `UIA_<NAME>_TOKEN` is unset or
empty, the token is read from that file, which is created on first use with a fresh random token
(`secrets.token_urlsafe(32)`): docker-compose.yml points the server, the developer and the data
owner at files in one volume that the attacker's containers never mount, so the stack has no
default token and nobody has to invent one. The file appears complete or not at all (written
aside, then hard-linked into place, which fails if another container was first: its token wins),
readable by its owner only. A token given in the environment wins over the file.

Standard library only. With no `*_TOKEN_FILE` variable it only runs the command.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

SUFFIX = "_FILE"


def token_from(path: Path) -> str:
    """The token in `path`, created first if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(aside, path)  # atomic, and never replaces a token another container made first
            print(f"uia-tokens: created {path}", file=sys.stderr)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    token = path.read_text().strip()
    if not token:
        raise SystemExit(f"uia-tokens: error: {path} is empty")
    return token


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: uia-tokens COMMAND [ARG ...]")
    for name, value in list(os.environ.items()):
        target = name.removesuffix(SUFFIX)
        if name.startswith("UIA_") and name.endswith("_TOKEN" + SUFFIX) and value and not os.environ.get(target):
            os.environ[target] = token_from(Path(value))
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
