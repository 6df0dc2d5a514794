# mlregistry: build the wheel and its dependencies in one stage, run them from a slim one.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# The wheel carries the migrations (as mlregistry.migrations): the image needs no copy of its own.
COPY migrations ./migrations
# Only the runtime dependencies (no test extra) go into the virtualenv that the final image copies.
RUN /opt/venv/bin/pip install --no-cache-dir .

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mlregistry" \
      org.opencontainers.image.description="Self-hosted ML registry that speaks TrueFoundry's ML API" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLREGISTRY_HOST=0.0.0.0 \
    MLREGISTRY_PORT=8000 \
    MLREGISTRY_DATA_DIR=/data
RUN groupadd --system --gid 10001 mlregistry \
    && useradd --system --uid 10001 --gid mlregistry --home-dir /app --no-create-home --shell /usr/sbin/nologin mlregistry \
    && mkdir -p /data /app \
    && chown mlregistry:mlregistry /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# SIGTERM lets in-flight requests finish (MLREGISTRY_SHUTDOWN_TIMEOUT); give `docker stop` a longer grace period.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["mlregistry", "healthcheck"]
ENTRYPOINT ["mlregistry", "serve"]
