"""One logging setup for every program: progress and logs go to stderr, stdout stays free for the
command's machine-readable result.

A person watching a terminal gets rich's formatting; a pipe or a log file gets plain lines.
"""

from __future__ import annotations

import logging
import sys

from rich.console import Console
from rich.logging import RichHandler

FORMAT = "%(name)s: %(message)s"


def setup_logging(level: str | int = "INFO") -> None:
    """Route the root logger to stderr once; later calls only change the level."""
    root = logging.getLogger()
    if not any(getattr(h, "_uia", False) for h in root.handlers):
        if sys.stderr.isatty():
            handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False,
                                                   show_time=False, markup=False)
            handler.setFormatter(logging.Formatter(FORMAT))
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(levelname)s " + FORMAT))
        handler._uia = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


class HealthCheckFilter(logging.Filter):
    """Drops uvicorn's access-log lines of successful GET /healthz: container healthchecks poll it
    every few seconds, and those lines would bury the requests worth reading. Failures still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        # uvicorn.access's record: (client address, method, path with query, HTTP version, status)
        if len(args) == 5 and args[1] == "GET" and str(args[2]).split("?")[0] == "/healthz":
            return not 200 <= int(args[4]) < 300
        return True


def quiet_health_checks() -> None:
    """Keep successful /healthz polls out of uvicorn's access log (call before `uvicorn.run`; its
    logging configuration keeps filters already on the logger)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HealthCheckFilter) for f in access.filters):
        access.addFilter(HealthCheckFilter())
