"""Schemathesis from outside: `python -m devtools.fuzz` runs the schemathesis CLI with every check
(`--checks all`) against a live `python -m server serve` on a free loopback port.

The server runs as `tests/test_fuzz.py` configures it in process (admin token, one API key,
shared memory on, anonymous callers off, small limits) with a tiny model deployed; the CLI gets the
token and the key as headers. Every check is on, by the configuration file this writes (the CLI's
`--checks all` would override any per-operation setting): the one exemption
(`devtools.fuzz_contract`) is loaded as a hook, and `positive_data_acceptance` is turned off on its
operations only. The exit status is the CLI's: 0 when it finds no failure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import httpx

from devtools.fuzz_contract import SEMANTIC_REFUSALS
from devtools.processes import ROOT, ServerProcess
from shared.artifacts import content_version, weights_to_bytes
from shared.models import build_model
from shared.schemas import ModelMetadata

API_KEY = "fuzz-key"
SETTINGS = {"UIA_SERVER_API_KEYS": json.dumps({API_KEY: None}), "UIA_SERVER_ALLOW_ANONYMOUS": "false",
            "UIA_SERVER_ALLOW_SHARED_MEMORY": "true", "UIA_SERVER_MAX_IMAGES_PER_REQUEST": "16",
            "UIA_SERVER_MAX_BODY_BYTES": str(2**20), "UIA_SERVER_MAX_UPLOAD_BYTES": str(2**20),
            "UIA_SERVER_TORCH_THREADS": "1"}


def deploy_tiny_model(admin: httpx.Client) -> str:
    meta = ModelMetadata(version="tiny", architecture={"name": "small_cnn", "width": 4}, input_shape=(3, 32, 32),
                         classes=[f"class{i}" for i in range(10)],
                         normalization={"mean": [0.5] * 3, "std": [0.25] * 3}, created_at=datetime.now(timezone.utc))
    weights = weights_to_bytes(build_model(meta).eval())
    meta = meta.model_copy(update={"version": content_version(weights, meta)})
    files = {"metadata": ("metadata.json", meta.model_dump_json().encode(), "application/json"),
             "weights": ("model.safetensors", weights, "application/octet-stream")}
    admin.post("/admin/models", files=files).raise_for_status()
    admin.put("/admin/deployment", json={"version": meta.version, "options": {}}).raise_for_status()
    return meta.version


def config_text(exempt: bool = True) -> str:
    """The CLI's configuration: every check, the hook's included; positive_data_acceptance off where the
    exemption's stricter check replaces it (`exempt`; without, it shows the semantic refusals)."""
    lines = [f"hooks = {json.dumps(str(ROOT / 'devtools' / 'fuzz_hooks.py'))}",
             "", "[cache]", "enabled = false",  # no .schemathesis/ left in the working tree
             "", "[checks]", "enabled = true"]
    for label in SEMANTIC_REFUSALS if exempt else ():
        lines += ["", "[[operations]]", f"include-name = {json.dumps(label)}",
                  "checks.positive_data_acceptance.enabled = false"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60, help="examples per operation and phase (default 60)")
    parser.add_argument("--report", type=Path, help="also write schemathesis's JUnit report there")
    parser.add_argument("--no-exemption", dest="exempt", action="store_false",
                        help="positive_data_acceptance on every operation: lists the semantic refusals (failures)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="uia-fuzz-") as tmp:
        server = ServerProcess(Path(tmp) / "store", extra_env=SETTINGS).start()
        try:
            with server.admin() as admin:
                deploy_tiny_model(admin)
            config = Path(tmp) / "schemathesis.toml"
            config.write_text(config_text(args.exempt))
            command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
                       f"{server.url}/openapi.json", "--max-examples", str(args.examples),
                       "--workers", "1", "--header", f"Authorization: Bearer {server.token}",
                       "--header", f"X-API-Key: {API_KEY}"]
            if args.report:
                command += ["--report", "junit", "--report-junit-path", str(args.report)]
            print("$", " ".join(command[2:]).replace(server.token, "<token>"), flush=True)
            print(config.read_text(), flush=True)
            return subprocess.run(command, cwd=ROOT).returncode
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
