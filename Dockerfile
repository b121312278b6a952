# The three programs' images, one Dockerfile with a target each:
#
#   attacker    the black-box client: the API schemas and numpy, no torch, no model code, no data.
#               It physically cannot load weights (the threat model, made visible) and is small.
#   server      the MLaaS provider     } one shared `ml` stage: the torch layer (several GB with
#   developer   trains and unlearns    } its CUDA libraries) is stored once for both.
#
# Packages come from the default index, or with --build-arg WHEELHOUSE=<url or dir> from that
# wheelhouse alone (--no-index; `make test-compose` serves one built by docker/build-wheelhouse.sh).
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
 && pip install ${WHEELHOUSE:+--no-index --find-links $WHEELHOUSE} \
        -c /build/constraints.txt -r /build/requirements.txt
COPY --from=attacker-source /app/shared/ /app/shared/
COPY attacker/ /app/attacker/
# The build fails when the attacker needs a file it was not given, or when torch got in.
RUN python -c "import attacker.__main__" && ! python -c "import torch" 2>/dev/null
ENTRYPOINT ["python", "-m", "attacker"]
CMD ["--help"]

# ---------------------------------------------------------------- torch: server and developer
# The pins of the heavy wheels (torch, torchvision, triton, the CUDA libraries), cut out of
# constraints.txt: the GB layer below is rebuilt only when one of these pins changes, not whenever
# another line of constraints.txt does (a fixed mtime: the classic builder's COPY --from cache
# then hits whenever the content is the same; measured in docs/compose.md).
FROM python AS torch-pins
COPY constraints.txt /build/
RUN grep -iE '^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)==' /build/constraints.txt \
        >/build/torch-pins.txt \
 && touch -d @0 /build/torch-pins.txt

FROM python AS ml
ARG WHEELHOUSE=
COPY --from=torch-pins /build/torch-pins.txt /build/
RUN pip install ${WHEELHOUSE:+--no-index --find-links $WHEELHOUSE} --no-deps -r /build/torch-pins.txt
# Then everything else (torch's small pure-Python dependencies included), resolved against the pins.
COPY constraints.txt pyproject.toml docker/requirements.py /build/
RUN python3 /build/requirements.py ml >/build/requirements.txt \
 && pip install ${WHEELHOUSE:+--no-index --find-links $WHEELHOUSE} \
        -c /build/constraints.txt -r /build/requirements.txt
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
ENTRYPOINT ["python", "-m", "server"]
CMD ["serve"]

FROM ml AS developer
COPY developer/ /app/developer/
RUN python -c "import developer.__main__"
USER uia
ENV UIA_DEVELOPER_HOST=0.0.0.0 UIA_DEVELOPER_PORT=8100 UIA_DEVELOPER_WORKDIR=/data/work \
    UIA_CACHE_DIR=/data/cache
RUN mkdir -p /data/work /data/cache
EXPOSE 8100
ENTRYPOINT ["python", "-m", "developer"]
CMD ["serve"]
