#!/usr/bin/env bash
# Build the TinyMLaaS images with BuildKit: docker/build.sh [api] [worker] [bridge]
# (all three by default), tagged ${IMAGE_PREFIX}NAME:${TAG} (tinymlaas-api:latest, ...).
#
# Machine-specific settings are passed in, never baked into an image:
#   CA_BUNDLE    a CA bundle pip must trust (TLS-inspecting proxy), given to the build as the
#                secret `ca`; default: $PIP_CERT, pip's configured `cert`, or $SSL_CERT_FILE.
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST, HTTP(S)_PROXY, NO_PROXY
#                from the environment or pip's configuration, as build args (local file://
#                indexes are left out: a build cannot see them).
# Needs BuildKit: a docker CLI with buildx, or a Docker <= 22 CLI (built-in BuildKit, such as
# Debian bookworm's docker.io).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${TAG:-latest}
IMAGE_PREFIX=${IMAGE_PREFIX:-tinymlaas-}
targets=("$@")
((${#targets[@]})) || targets=(api worker bridge)

pick_docker() {
  local candidate major
  for candidate in docker /usr/bin/docker; do
    command -v "$candidate" >/dev/null || continue
    if "$candidate" buildx version >/dev/null 2>&1; then echo "$candidate"; return; fi
    major=$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1 || true)
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major <= 22)); then echo "$candidate"; return; fi
  done
  echo "no docker CLI with BuildKit found (install docker-buildx)" >&2
  return 1
}
DOCKER=$(pick_docker)

pip_setting() { # NAME (env var) KEY (pip config key)
  local value=${!1:-}
  [ -n "$value" ] || value=$(pip config get "$2" 2>/dev/null || true)
  echo "$value"
}

CA_BUNDLE=${CA_BUNDLE:-$(pip_setting PIP_CERT global.cert)}
CA_BUNDLE=${CA_BUNDLE:-${SSL_CERT_FILE:-}}
build_args=()
add_arg() { [ -z "$2" ] || build_args+=(--build-arg "$1=$2"); }
add_arg PIP_INDEX_URL "$(pip_setting PIP_INDEX_URL global.index-url)"
extra=$(pip_setting PIP_EXTRA_INDEX_URL global.extra-index-url | tr ' ' '\n' | grep -E '^https?://' | paste -sd' ' || true)
add_arg PIP_EXTRA_INDEX_URL "$extra"
add_arg PIP_TRUSTED_HOST "$(pip_setting PIP_TRUSTED_HOST global.trusted-host)"
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  add_arg "$name" "${!name:-}"
done
secret=()
if [ -n "$CA_BUNDLE" ] && [ -f "$CA_BUNDLE" ]; then
  secret=(--secret "id=ca,src=$CA_BUNDLE")
fi

for target in "${targets[@]}"; do
  echo "==> building ${IMAGE_PREFIX}${target}:${TAG}" >&2
  DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain --file docker/Dockerfile --target "$target" \
    --tag "${IMAGE_PREFIX}${target}:${TAG}" "${secret[@]}" "${build_args[@]}" .
done
