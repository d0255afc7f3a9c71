# Two images from one file (docker-compose.yml builds both):
#   serving  -> the serving API alone: `core` and `serving`, the base dependencies, no Dagster
#   platform -> the Dagster code location (code server, webserver, daemon, run workers) and the
#               sample sources, without the API; the default target
FROM python:3.11-slim AS serving

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY serving ./serving
RUN pip install --no-cache-dir .

EXPOSE 8000
CMD ["python", "-m", "serving", "--host", "0.0.0.0", "--port", "8000"]


FROM python:3.11-slim AS platform

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY orchestration ./orchestration
COPY sample_sources ./sample_sources
COPY deploy ./deploy
COPY workspace.yaml ./
# The `deploy` extra: the platform and the Docker and Kubernetes run launchers (deploy/docker,
# deploy/k8s). A run worker rebuilds the instance, launcher included, so the image must import them.
RUN pip install --no-cache-dir ".[deploy]"

# Dagster's instance: deploy/production/dagster.yaml (PostgreSQL storage from DAGSTER_PG_*).
ENV DAGSTER_HOME=/opt/dagster/home
RUN mkdir -p "$DAGSTER_HOME" && cp deploy/production/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

EXPOSE 3000 4000 8100
