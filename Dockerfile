# The service image: `inbox serve` as a non-root user. Build: docker build -t inbox .
# The schema is migrated by `inbox db upgrade` run once before the service starts (the compose
# file's one-shot `migrate` service); the service itself never migrates.
# tests/unit/test_deploy.py and tests/unit/test_docker_files.py check this file.
#
# Base images are pinned by digest, the tag beside it saying which release that is: a tag can be
# moved to other bytes, a digest cannot. To move to a new release, set both (the digest from
# `docker buildx imagetools inspect python:3.11.14-slim-bookworm`, the multi-platform index's).

# -- build: every dependency from requirements.lock, each file checked against its hash --------------
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The build backend (setuptools, wheel) comes from a lock of its own, so nothing is fetched
# unchecked: authres ships only a source archive, built here with it, not in an isolated
# environment that pip would fill without hashes.
COPY requirements-build.lock requirements.lock ./
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps -r requirements-build.lock \
 && /opt/build/bin/pip wheel --require-hashes --no-deps --no-build-isolation -r requirements.lock -w /wheels
COPY pyproject.toml README.md ./
COPY inbox inbox
COPY classifiers classifiers
COPY autoresponder autoresponder
# The service's own wheel, then one virtualenv without pip or setuptools holding only the wheels;
# `pip check` fails the build if the lock no longer satisfies pyproject.toml's dependencies.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation . -w /wheels \
 && python -m venv --without-pip /opt/inbox \
 && /opt/build/bin/pip --python /opt/inbox/bin/python install --no-index --no-deps /wheels/*.whl \
 && /opt/build/bin/pip --python /opt/inbox/bin/python check

# -- run: the virtualenv, the config and templates, and the pg_dump of the server's major version ----
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d
# `inbox backup` runs pg_dump, which refuses a server newer than itself: the client is the major
# version of the compose file's PostgreSQL (Debian bookworm ships 15), from the PostgreSQL
# project's apt repository (PGDG), whose signing key comes in Debian's postgresql-common package.
# Build with --build-arg PG_MAJOR=17 for a PostgreSQL 17 server.
ARG PG_MAJOR=16
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" \
 && rm -rf /var/lib/apt/lists/* \
 && pg_dump --version | grep -q " ${PG_MAJOR}\." \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin inbox
COPY --from=build /opt/inbox /opt/inbox
WORKDIR /app
# The defaults the image starts with; mount your own over them (docker-compose.yml does, read-only).
COPY config config
COPY templates templates
# What the service writes on its own disk (a SQLite database, var/sent when configured so): give
# it a named volume (the compose file does). No VOLUME here: an anonymous volume per container
# would hide config and templates mounted later and pile up unnamed on the host.
RUN mkdir var && chown inbox:inbox var
ENV PATH=/opt/inbox/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    INBOX_CONFIG=/app/config/docker.yaml \
    INBOX_LOG_FORMAT=json
# SMTP listener and /healthz /metrics /admin, as config/docker.yaml sets them.
EXPOSE 2525 8025
USER inbox
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8025/healthz', timeout=4).status != 200)"]
# Exec form: `inbox serve` is PID 1 and gets docker stop's SIGTERM (it drains, then exits). An
# instance whose schema is behind its code refuses to start (exit 2): run `inbox db upgrade` first.
CMD ["inbox", "serve"]
