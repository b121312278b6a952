# The project's images, one Dockerfile with a target each:
#
#   attacker    the black-box client: the API schemas and numpy, no torch, no model code, no data.
#               It physically cannot load weights (the threat model, made visible) and is small.
#   server      the MLaaS provider     } one shared `ml` stage: the torch layer (several GB with
#   developer   trains and unlearns    } its CUDA libraries) is stored once for all three.
#   grid        the evaluation harness } on Ray (docker-compose.yml, profile grid): everything
#               plus ray, for the head, the workers and the driver of `python -m evaluation`.
#
# Build arguments, all optional:
#   BASE_IMAGE   the Python 3.11 base (default python:3.11-slim; any Debian-like image with
#                python3 and its venv module works)
#   WHEELHOUSE   install Python packages from this wheelhouse alone (a URL or directory of wheels,
#                `pip install --no-index --find-links`), not from the default index
#   TORCH_INDEX  a wheel index of torch builds (e.g. https://download.pytorch.org/whl/cpu): torch
#                and torchvision at their pinned versions come from it, without the CUDA libraries
# Versions: constraints.txt; names: pyproject.toml (docker/requirements.py reads both).
# The attacker's stages come first: the classic builder builds every stage up to its target.

ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- a venv on the base image
FROM ${BASE_IMAGE} AS python
# The venv makes python:3.11-slim and a bare Debian (python3 + python3-venv) behave the same.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLCONFIGDIR=/tmp/matplotlib
RUN python3 -m venv /opt/venv \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin uia \
 && mkdir -p /data && chown uia:uia /data
COPY docker/healthcheck.py /usr/local/bin/uia-healthcheck
COPY docker/pip-install.sh /usr/local/bin/uia-pip-install
WORKDIR /app

# ---------------------------------------------------------------- attacker
# Only the torch-free part of shared/ reaches the attacker's image; a separate stage prunes it so
# that no layer of the attacker's image ever held model code or the bundled data set.
FROM python AS attacker-source
COPY shared/ /app/shared/
RUN rm -rf /app/shared/models /app/shared/data /app/shared/artifacts.py /app/shared/runtime.py

FROM python AS attacker
ARG WHEELHOUSE=
COPY constraints.txt pyproject.toml docker/requirements.py /build/
RUN python3 /build/requirements.py >/build/requirements.txt \
 && uia-pip-install -c /build/constraints.txt -r /build/requirements.txt
COPY --from=attacker-source /app/shared/ /app/shared/
COPY attacker/ /app/attacker/
COPY docker/run-as-owner.py /usr/local/bin/uia-run-as-owner
# The build fails when the attacker needs a file it was not given, or when torch got in.
RUN python -c "import attacker.__main__" && ! python -c "import torch" 2>/dev/null
# Started as root only to drop it: the attacker runs as the owner of its run directory /runs
# (bind-mounted from the host), or as uia when root owns it; never as root.
ENTRYPOINT ["python", "/usr/local/bin/uia-run-as-owner", "/runs", "python", "-m", "attacker"]
CMD ["--help"]

# ---------------------------------------------------------------- torch: server, developer, grid
# The pins of the heavy wheels (torch, torchvision, triton, the CUDA libraries), cut out of
# constraints.txt: the GB layer below is rebuilt only when one of these pins changes, not whenever
# another line of constraints.txt does (a fixed mtime: the classic builder's COPY --from cache
# then hits whenever the content is the same; measured in docs/compose.md).
FROM python AS torch-pins
ARG TORCH_INDEX=
COPY constraints.txt /build/
# From a torch index (TORCH_INDEX), torch and torchvision alone: their CPU or ROCm builds need none
# of the CUDA libraries PyPI's build pins.
RUN if [ -n "$TORCH_INDEX" ]; then heavy='torch|torchvision'; \
    else heavy='torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+'; fi \
 && grep -iE "^($heavy)==" /build/constraints.txt >/build/torch-pins.txt \
 && touch -d @0 /build/torch-pins.txt

FROM python AS ml
ARG WHEELHOUSE=
ARG TORCH_INDEX=
COPY --from=torch-pins /build/torch-pins.txt /build/
RUN if [ -n "$TORCH_INDEX" ]; then WHEELHOUSE= uia-pip-install --index-url "$TORCH_INDEX" --no-deps -r /build/torch-pins.txt; \
    else uia-pip-install --no-deps -r /build/torch-pins.txt; fi
# Then everything else (torch's small pure-Python dependencies included), resolved against the pins.
COPY constraints.txt pyproject.toml docker/requirements.py /build/
RUN python3 /build/requirements.py ml >/build/requirements.txt \
 && uia-pip-install -c /build/constraints.txt -r /build/requirements.txt
# Tokens (docker/tokens.py): made on first use in a volume mounted here, readable by uia alone.
COPY docker/tokens.py /usr/local/bin/uia-tokens
RUN mkdir -p /tokens && chown uia:uia /tokens && chmod 0700 /tokens
COPY shared/ /app/shared/

FROM ml AS server
COPY server/ /app/server/
RUN python -c "import server.__main__"
USER uia
ENV UIA_SERVER_HOST=0.0.0.0 UIA_SERVER_PORT=8000 UIA_SERVER_STORE_DIR=/data/store
RUN mkdir -p /data/store
EXPOSE 8000
HEALTHCHECK --interval=2s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/bin/uia-healthcheck", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["python", "/usr/local/bin/uia-tokens", "python", "-m", "server"]
CMD ["serve"]

FROM ml AS developer
COPY developer/ /app/developer/
RUN python -c "import developer.__main__"
USER uia
ENV UIA_DEVELOPER_HOST=0.0.0.0 UIA_DEVELOPER_PORT=8100 UIA_DEVELOPER_WORKDIR=/data/work \
    UIA_CACHE_DIR=/data/cache
RUN mkdir -p /data/work /data/cache
EXPOSE 8100
ENTRYPOINT ["python", "/usr/local/bin/uia-tokens", "python", "-m", "developer"]
CMD ["serve"]

# ---------------------------------------------------------------- grid: evaluation on Ray
# The harness drives the real programs in-process and as subprocesses (each Ray worker owns a
# server process), so it holds all of them, and the operator's reading of the stored versions
# (recovery/) for the white-box ceiling; devtools/processes.py starts those servers.
FROM ml AS grid
ARG WHEELHOUSE=
RUN python3 /build/requirements.py ml evaluation ray >/build/requirements-grid.txt \
 && uia-pip-install -c /build/constraints.txt -r /build/requirements-grid.txt
COPY server/ /app/server/
COPY developer/ /app/developer/
COPY attacker/ /app/attacker/
COPY recovery/ /app/recovery/
COPY evaluation/ /app/evaluation/
COPY devtools/__init__.py devtools/processes.py /app/devtools/
COPY docker/ray-driver.sh /usr/local/bin/uia-ray-driver
# /app/runs/evaluation: the grid's work directory (python -m evaluation's default --workdir), where
# compose mounts one volume shared by the head, the workers and the driver, at the same path.
RUN python -c "import evaluation.__main__, evaluation.runner, ray" \
 && mkdir -p /app/runs/evaluation && chown uia:uia /app/runs/evaluation
USER uia
ENV UIA_CACHE_DIR=/data/cache TQDM_DISABLE=1
RUN mkdir -p /data/cache
CMD ["python", "-m", "evaluation", "--help"]
