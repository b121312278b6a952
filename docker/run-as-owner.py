"""Entrypoint of the attacker's image: run the command as the owner of the run directory, never as root.

    python /usr/local/bin/uia-run-as-owner /runs python -m attacker probe ...

The attacker writes its probes, snapshots and reports into a directory bind-mounted from the host
(`./runs/compose`). Started as root, this drops every privilege before the attacker runs: to the
user and group owning that directory (on the host: whoever created it, normally the user running
compose), so that the files it writes belong to them. A directory root owns (root ran compose, or
docker created the missing directory) is first given to the image's unprivileged user `uia`
(uid 10001), the directory alone, not what is in it: root keeps every right over it, and the
attacker still never runs as root. Without the directory, the command runs as `uia`. Started as
another user already (compose `user:`), it changes nothing. Standard library only.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

FALLBACK_USER = "uia"


def target_ids(run_root: Path) -> tuple[int, int]:
    """(uid, gid) the command runs as: the run directory's owner, never root (see above)."""
    user = pwd.getpwnam(FALLBACK_USER)
    try:
        st = run_root.stat()
    except FileNotFoundError:
        return user.pw_uid, user.pw_gid
    if st.st_uid == 0:
        os.chown(run_root, user.pw_uid, user.pw_gid)
        print(f"uia-run-as-owner: root owns {run_root}: gave it to {FALLBACK_USER} ({user.pw_uid}), "
              "the attacker never runs as root", file=sys.stderr)
        return user.pw_uid, user.pw_gid
    return st.st_uid, st.st_gid


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: uia-run-as-owner RUN_DIR COMMAND [ARG ...]")
    run_root, command = Path(argv[0]), argv[1:]
    if os.getuid() == 0:
        uid, gid = target_ids(run_root)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)  # last: after it, nothing can be changed back
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SystemExit("uia-run-as-owner: error: still root after dropping privileges")
        os.environ["HOME"] = "/tmp"  # the target user may have no home in the image
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
