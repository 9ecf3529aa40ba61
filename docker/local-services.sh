#!/usr/bin/env bash
# TEST AID, not part of a deployment. Makes stand-ins for the service images docker-compose.yml
# uses, `postgres:16-bookworm` and `redis:7-bookworm`, on a machine that cannot reach an image
# registry (this project's CI machine), so the unchanged compose file runs whole:
#   postgres:16-bookworm  Debian bookworm's PostgreSQL (15, the version Debian ships) with a small
#                         entry point doing what the compose file relies on in the real image:
#                         POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, initdb on first start
#                         into /var/lib/postgresql/data (kept in the volume across restarts),
#                         password (scram-sha-256) auth over TCP, listening on all addresses,
#                         pg_isready on PATH, the server running as the postgres user.
#   redis:7-bookworm      Debian bookworm's redis-server (7.0), working directory /data, redis-cli
#                         on PATH, running as the redis user; protected mode off by default as in
#                         the real image (the compose network is what keeps it private).
# Built from the local Debian base of docker/local-base.sh (run that first; this script runs it
# when the base is missing). Idempotent: an image whose tag exists is not rebuilt. On a machine
# that can pull from Docker Hub, do not run this: `docker compose pull` gives the real images.
set -euo pipefail

BASE_TAG=${BASE_TAG:-localhost/debian:bookworm}
POSTGRES_TAG=${POSTGRES_TAG:-postgres:16-bookworm}
REDIS_TAG=${REDIS_TAG:-redis:7-bookworm}
PG_MAJOR=15  # bookworm's PostgreSQL

log() { printf '==> %s\n' "$*" >&2; }

if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  bash "$(dirname "$0")/local-base.sh"
fi

exists() { docker image inspect "$1" >/dev/null 2>&1; }
build_image() { # TAG CONTEXT; host networking: apt uses this machine's mirror and name resolution
  docker build --network host -t "$1" "$2" >"$2/build.log" 2>&1 || { tail -30 "$2/build.log" >&2; exit 1; }
}

# A build context of its own (Dockerfile + entry point), removed afterwards.
context=$(mktemp -d /tmp/tinymlaas-services.XXXXXX)
trap 'rm -rf "$context"' EXIT

if ! exists "$POSTGRES_TAG"; then
  log "building the stand-in $POSTGRES_TAG (PostgreSQL $PG_MAJOR) from $BASE_TAG"
  mkdir "$context/postgres"
  cat >"$context/postgres/entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# Stand-in entry point (docker/local-services.sh): first start initialises $PGDATA from the
# POSTGRES_* variables; every start runs `postgres` as the postgres user.
set -eu
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups /bin/sh "$0" "$@"
fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  user=${POSTGRES_USER:-postgres}
  database=${POSTGRES_DB:-$user}
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    # A server on the Unix socket only, so nothing connects before the database exists.
    pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
    createdb --username="$user" --maintenance-db=postgres "$database"
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  fi
  echo "initialised $PGDATA: user $user, database $database"
fi
exec "$@"
ENTRYPOINT
  cat >"$context/postgres/Dockerfile" <<DOCKERFILE
FROM $BASE_TAG
# No default cluster from the Debian package: the entry point makes one in the volume.
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-common \\
 && sed -ri 's/#(create_main_cluster) .*\$/\\1 = false/' /etc/postgresql-common/createcluster.conf \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-$PG_MAJOR \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \\
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \\
 && chmod 700 /var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:\$PATH PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
# Fast shutdown, as in the real image: docker stop does not wait for clients to leave.
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
DOCKERFILE
  build_image "$POSTGRES_TAG" "$context/postgres"
fi

if ! exists "$REDIS_TAG"; then
  log "building the stand-in $REDIS_TAG from $BASE_TAG"
  mkdir "$context/redis"
  cat >"$context/redis/entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# Stand-in entry point (docker/local-services.sh): `redis-server ARGS` as the redis user in /data.
set -eu
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis /data
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
ENTRYPOINT
  cat >"$context/redis/Dockerfile" <<DOCKERFILE
FROM $BASE_TAG
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /data && chown redis:redis /data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /data
WORKDIR /data
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
DOCKERFILE
  build_image "$REDIS_TAG" "$context/redis"
fi

docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' \
  | grep -E "^($POSTGRES_TAG|$REDIS_TAG) " >&2 || true
