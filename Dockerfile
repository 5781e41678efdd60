# Enlarger: a small runtime image, configured only through ENLARGER_* variables.
#
#   docker build -t enlarger .
#   docker run -p 8080:8080 -v enlarger-data:/data enlarger
#
# BASE is any Debian 12 image: the public python slim image by default (its Python is used), or a
# plain Debian (Debian's python3 is installed). PIP_CERT is a CA bundle for pip, for machines whose
# package proxy has its own CA; leave it empty otherwise. docs/deploy.md explains every line.
ARG BASE=python:3.11-slim-bookworm

# --- 1. build: the project and its dependencies as wheels, installed into a venv --------------
FROM ${BASE} AS python
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's own versions, whatever the day's point release is: pinning them would break the build
# at the next security update.
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && apt-get clean \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# The runtime dependencies alone, so that neither the code nor the test extras invalidate the
# longest layer below (COPY --from is cached on the file's content).
FROM python AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' >requirements.txt

FROM python AS build
ARG PIP_CERT=
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY --from=requirements /src/requirements.txt ./
RUN [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    python3 -m venv /opt/enlarger \
    && /opt/enlarger/bin/pip wheel --wheel-dir /wheels -r requirements.txt \
    && /opt/enlarger/bin/pip install --no-index --find-links /wheels -r requirements.txt
COPY pyproject.toml README.md ./
COPY enlarger ./enlarger
COPY ingest ./ingest
COPY proxy ./proxy
COPY cache ./cache
COPY db ./db
COPY pages ./pages
RUN [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    /opt/enlarger/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/enlarger/bin/pip install --no-index --no-deps /wheels/enlarger-*.whl \
    && /opt/enlarger/bin/pip uninstall -y pip setuptools \
    && find /opt/enlarger -name __pycache__ -prune -exec rm -rf {} +

# --- 2. runtime: Python, jemalloc, the venv, a non-root user ----------------------------------
FROM ${BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && packages=(libjemalloc2) \
    && if ! command -v python3 >/dev/null; then packages+=(python3); fi \
    && apt-get install -y --no-install-recommends "${packages[@]}" \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "$(find /usr/lib -name libjemalloc.so.2 | head -n 1)" /usr/local/lib/libjemalloc.so.2 \
    && groupadd --gid 10001 enlarger \
    && useradd --uid 10001 --gid enlarger --no-log-init --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin enlarger \
    && mkdir -p /data \
    && chown enlarger:enlarger /data
COPY --from=build /opt/enlarger /opt/enlarger

# jemalloc instead of glibc's malloc: libvips servers on glibc grow (one arena per thread, memory
# fragmented and rarely returned); docs/benchmarks.md measures it.
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    PATH=/opt/enlarger/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENLARGER_DATA_DIR=/data \
    ENLARGER_HOST=0.0.0.0 \
    ENLARGER_PORT=8080

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Liveness only (no backend checks): route traffic on /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; h = os.environ.get('ENLARGER_HOST', '127.0.0.1'); h = '127.0.0.1' if h in ('0.0.0.0', '::', '') else h; urllib.request.urlopen(f\"http://{h}:{os.environ.get('ENLARGER_PORT', '8080')}/healthz\", timeout=4)"]
# SIGTERM: in-flight requests finish, view counts are written, exit status 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["enlarger"]
CMD ["serve"]
