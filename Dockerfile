# The service image: `inbox serve` as a non-root user, its schema migrated as it starts.
# Build: docker build -t inbox .   Run several on one PostgreSQL: docker-compose.yml.
# tests/unit/test_deploy.py checks this file against config/docker.yaml and the CLI.

# -- build: install the package and its dependencies into a virtualenv ----------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/inbox
WORKDIR /src
COPY pyproject.toml README.md ./
COPY inbox inbox
COPY classifiers classifiers
COPY autoresponder autoresponder
RUN /opt/inbox/bin/pip install .

# -- run: the virtualenv, the config and templates, and pg_dump for `inbox backup` ----------------
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin inbox
COPY --from=build /opt/inbox /opt/inbox
WORKDIR /app
COPY config config
COPY templates templates
RUN mkdir var && chown inbox:inbox var
ENV PATH=/opt/inbox/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    INBOX_CONFIG=/app/config/docker.yaml \
    INBOX_LOG_FORMAT=json
# Config and templates are the admin's to edit (templates reload live); var holds what the
# service writes on its own disk (the SQLite database and var/sent when configured so).
VOLUME ["/app/config", "/app/templates", "/app/var"]
# SMTP listener and /healthz /metrics, as config/docker.yaml sets them.
EXPOSE 2525 8025
USER inbox
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8025/healthz', timeout=4).status != 200)"]
# `exec`, so that `inbox serve` is the process docker stops with SIGTERM (it drains, then exits).
CMD ["sh", "-c", "inbox db upgrade && exec inbox serve"]
