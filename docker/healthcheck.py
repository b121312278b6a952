"""Container healthcheck: exit 0 when GET URL answers 200 (and, given FIELD, its JSON FIELD is set).

    python /usr/local/bin/uia-healthcheck http://127.0.0.1:8000/healthz
    python /usr/local/bin/uia-healthcheck http://127.0.0.1:8100/healthz deployed_version

Standard library only, so it runs in every image; compose's `depends_on: service_healthy` gates
the story on it (the developer is healthy only once its original model is deployed).
"""

import json
import sys
import urllib.request


def main() -> int:
    url, field = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            body = response.read()
    except OSError as exc:  # refused, timed out, or an HTTP error status
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if field is not None and json.loads(body).get(field) is None:
        print(f"not ready: {field} is not set yet", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
