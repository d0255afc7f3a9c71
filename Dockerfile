# One image for every Python service of docker-compose.yml: code server, webserver, daemon,
# serving API and the sample sources.
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY orchestration ./orchestration
COPY serving ./serving
COPY sample_sources ./sample_sources
COPY deploy ./deploy
COPY workspace.yaml ./
# The `deploy` extra: the Docker and Kubernetes run launchers (deploy/docker, deploy/k8s). A run
# worker rebuilds the instance, launcher included, so the image must import them.
RUN pip install --no-cache-dir ".[deploy]"

# Dagster's instance: deploy/production/dagster.yaml (PostgreSQL storage from DAGSTER_PG_*).
ENV DAGSTER_HOME=/opt/dagster/home
RUN mkdir -p "$DAGSTER_HOME" && cp deploy/production/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

EXPOSE 3000 4000 8000
