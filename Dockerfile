# syntax=docker/dockerfile:1
# sipctl's container image: the CLI and its runtime dependencies, nothing else.
#
#   docker build -t sipctl:0.2.0 .                          # the CLI
#   docker build -t sipctl:0.2.0-audio --build-arg audio=1 .  # plus two-way audio checks
#   docker run --rm -v "$PWD/config:/config:ro" \
#     -e LIVEKIT_URL -e LIVEKIT_API_KEY -e LIVEKIT_API_SECRET sipctl:0.2.0 plan --config /config
#
# tests/test_packaging.py runs this file's install commands in a fresh virtual environment
# and checks its structure (no container engine runs on the project's machines).

ARG PYTHON_VERSION=3.11

# --- build: the wheel (build tools stay in this stage) ---------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY sipctl ./sipctl
RUN python -m pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

# --- the image --------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm

# audio=1 installs the `audio` extra (the LiveKit real-time SDK) for two-way audio checks.
ARG audio=0

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheel is bind-mounted from the build stage, so it never becomes a layer; the venv
# has no pip or setuptools of its own (the base image's pip installs into it).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv --without-pip /opt/sipctl \
    && extra="" \
    && if [ "$audio" = "1" ] || [ "$audio" = "true" ]; then extra="[audio]"; fi \
    && set -- /wheels/sipctl-*.whl \
    && python -m pip --python /opt/sipctl/bin/python install "$1$extra" \
    && /opt/sipctl/bin/sipctl --version

# sipctl's environment first on PATH only now: above, `python` is the base image's, with pip.
ENV VIRTUAL_ENV=/opt/sipctl \
    PATH=/opt/sipctl/bin:$PATH

# A fixed numeric UID, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/sipctl \
    --shell /usr/sbin/nologin sipctl
USER 10001:10001
WORKDIR /home/sipctl

ENTRYPOINT ["sipctl"]
CMD ["--help"]
