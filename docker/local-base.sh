#!/usr/bin/env bash
# TEST AID, not part of a deployment. Makes the base image `python:3.11-slim` on a machine that
# cannot reach an image registry (this project's CI machine), so the unchanged
# `FROM python:3.11-slim` Dockerfiles build:
#   1. installs debootstrap, docker.io and docker-compose with apt when missing, starts dockerd in the
#      background when no engine answers;
#   2. debootstrap --variant=minbase bookworm from the Debian mirror apt already uses,
#      imported as localhost/debian:bookworm;
#   3. a stand-in for python:3.11-slim on top of it: Debian's python3 (3.11) + pip + venv,
#      ca-certificates, `python`/`pip` on PATH, pip allowed outside a venv as in the real image.
# Idempotent: every step is skipped when its result exists. On a machine that can pull from
# Docker Hub, do not run this: `docker pull python:3.11-slim` gives the real image.
set -euo pipefail

BASE_TAG=${BASE_TAG:-localhost/debian:bookworm}
PYTHON_TAG=${PYTHON_TAG:-python:3.11-slim}
SUITE=bookworm

log() { printf '==> %s\n' "$*" >&2; }

need_apt=()
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v dockerd >/dev/null || need_apt+=(docker.io)
# Debian's compose v1: the tests check the compose files with `docker-compose config`.
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi

# The Debian mirror apt already uses (deb822 .sources or one-line .list), security suite aside.
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' \
          | grep -v -- '-security' | grep -i debian | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/) {print $i; break}}' \
            | grep -v -- '-security' | grep -i debian | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  mirror=$(debian_mirror)
  rootfs=$(mktemp -d /tmp/tinymlaas-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >/tmp/tinymlaas-debootstrap.log 2>&1 \
    || { tail -20 /tmp/tinymlaas-debootstrap.log >&2; exit 1; }
  # Same mirror for apt inside the images; drop caches and logs debootstrap leaves behind.
  printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*
  log "docker import -> $BASE_TAG"
  tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$BASE_TAG" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

if ! docker image inspect "$PYTHON_TAG" >/dev/null 2>&1; then
  log "building the stand-in $PYTHON_TAG from $BASE_TAG"
  # Host networking: the build uses the same mirror (and name resolution) as this machine's apt.
  docker build --network host -t "$PYTHON_TAG" - >/dev/null <<DOCKERFILE
FROM $BASE_TAG
ENV LANG=C.UTF-8 PYTHON_VERSION=3.11
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python3 python3-pip python3-venv python-is-python3 ca-certificates \\
 && ln -s /usr/bin/pip3 /usr/local/bin/pip \\
 && rm -f /usr/lib/python3.*/EXTERNALLY-MANAGED \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
DOCKERFILE
fi

docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^($BASE_TAG|$PYTHON_TAG) " >&2 || true
