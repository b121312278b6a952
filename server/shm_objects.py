"""Which POSIX shared-memory objects an API key may register, and opening them.

Invariants:
- Each API key has a namespace: object names that begin with a prefix the server derives from
  the key (an HMAC under a secret of this server process, handed to the key's holder by
  `GET /v2/systemsharedmemory/namespace`). A key registers objects of its own namespace only, so
  it can name no object another tenant made for the server: not her input (inference on her
  images), not her output (the server writing into it), not her bytes (an error quoting them).
  The prefix need not be secret: knowing another key's prefix gives no right to register in it.
- Only objects of the POSIX shared-memory namespace are opened: one name, opened as
  ``/dev/shm/name`` without following links, a regular file with one link (a hard link would
  give a second name, in another namespace, to the same object).
- Every refusal is one answer, a 404 (no object of that name the caller may use): the same
  status and text whether the object is outside the namespace, missing, not openable, not
  regular, linked twice or too small. Registration is no oracle of which objects exist or how
  large they are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path

from server.errors import ApiError
from shared.schemas.oip import SHM_KEY

SHM_DIR = Path("/dev/shm")
KEY_PATTERN = re.compile(SHM_KEY)


class Namespaces:
    """The namespace prefix of each API key, under a secret drawn when the server starts (the
    registrations do not outlive the process either)."""

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    def prefix(self, api_key: str) -> str:
        digest = hmac.new(self._secret, api_key.encode(), hashlib.sha256).hexdigest()
        return f"uia-{digest[:20]}-"


def refusal(key: str, prefix: str) -> ApiError:
    """The one answer to every registration the server refuses for its object."""
    return ApiError(404, "unknown_object",
                    f"cannot register shared-memory object {key!r}: a region must lie inside a regular POSIX "
                    f"shared-memory object of your namespace (its name begins with {prefix!r}; GET "
                    f"/v2/systemsharedmemory/namespace), that the server may read and write, with offset + "
                    f"byte_size bytes at least")


def open_object(key: str, prefix: str, end: int, root: Path = SHM_DIR) -> int:
    """A descriptor of object `key` of the namespace `prefix`, at least `end` bytes long; else the
    one refusal."""
    match = KEY_PATTERN.fullmatch(key)
    if match is None or not match.group(1).startswith(prefix):  # nothing outside the namespace is touched
        raise refusal(key, prefix)
    try:  # O_NONBLOCK: opening a FIFO planted there must not hang the server
        fd = os.open(root / match.group(1), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:  # missing, not permitted, a link (not followed), a directory, ...
        raise refusal(key, prefix) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size < end:
        os.close(fd)
        raise refusal(key, prefix)
    return fd
