#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, start the services it talks to
# when they are down, then run lint, type checks and the tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- system packages (Debian) ---------------------------------------------------------------
apt_packages=()
command -v unzip >/dev/null || apt_packages+=(unzip)
command -v zip >/dev/null || apt_packages+=(zip)
command -v gcc >/dev/null || apt_packages+=(gcc)
command -v g++ >/dev/null || apt_packages+=(g++)
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
# Cross compiler, newlib and QEMU: the generated C is built and measured on emulated Cortex-M.
command -v arm-none-eabi-gcc >/dev/null || apt_packages+=(gcc-arm-none-eabi)
command -v arm-none-eabi-nm >/dev/null || apt_packages+=(binutils-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/lib/libc_nano.a ] || apt_packages+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || apt_packages+=(qemu-system-arm)
if ((${#apt_packages[@]})); then
  log "apt-get install ${apt_packages[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
fi

# --- services the tests use ------------------------------------------------------------------
wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$name did not come up" >&2; return 1
}
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432
fi
if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
  log "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_for MariaDB mariadb-admin -h 127.0.0.1 -u root ping
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! port_open 6379; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis port_open 6379
fi
if ! port_open 5672; then
  log "starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_for RabbitMQ port_open 5672
fi

# --- Python environment ----------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
log "installing tinymlaas[all,dev]"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all,dev]"

# --- container engine and the locally made base images (no registry is reachable) ---------
log "container engine and base images"
bash docker/local-base.sh

# --- checks ----------------------------------------------------------------------------------
log "ruff"
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
log "mypy"
.venv/bin/mypy
log "module and function sizes, import layers"
.venv/bin/python scripts/check_structure.py
log "README settings table"
.venv/bin/python scripts/settings_table.py --check
log "pytest"
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
