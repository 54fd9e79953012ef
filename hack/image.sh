#!/usr/bin/env bash
# Builds the operator's container image without a daemon: a statically linked release
# binary in a FROM scratch image (see Dockerfile), built by buildah with vfs storage (no
# Docker engine, no base image to pull, no overlay mounts).
#
#   hack/image.sh [build]            build $IMAGE (default localhost/mesos-operator:<version>)
#   hack/image.sh archive FILE       build, then write it to FILE as an OCI archive
#   hack/image.sh push DEST          build, then push it, e.g. DEST=registry.example.com/mesos-operator:0.1.0
#                                    (buildah login first; any buildah push transport works)
#
# Environment:
#   IMAGE             image name                     [localhost/mesos-operator:<Cargo version>]
#   CARGO_TARGET_DIR  cargo's target directory       [target]
#   BUILDAH_ROOT      private buildah storage (root/ and runroot/ inside), so that parallel
#                     builds and tests never share state; default: buildah's own
#   SKIP_CARGO=1      use the binary already in $CARGO_TARGET_DIR
# Needs: buildah (Debian: apt-get install -y buildah).
set -euo pipefail
cd "$(dirname "$0")/.."

version="$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)"
IMAGE="${IMAGE:-localhost/mesos-operator:$version}"
target_dir="${CARGO_TARGET_DIR:-target}"
triple=x86_64-unknown-linux-gnu
binary="$target_dir/$triple/release/mesos-operator"

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

command -v buildah >/dev/null || die "buildah is not installed (Debian: apt-get install -y buildah)"
buildah=(buildah --storage-driver vfs)
if [ -n "${BUILDAH_ROOT:-}" ]; then
  mkdir -p "$BUILDAH_ROOT/root" "$BUILDAH_ROOT/runroot"
  buildah+=(--root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/runroot")
fi

build() {
  if [ "${SKIP_CARGO:-}" != 1 ]; then
    log "building the statically linked release binary ($binary)"
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
      cargo build --release --locked --target "$triple" --bin mesos-operator
  fi
  [ -x "$binary" ] || die "$binary is missing"
  if ldd "$binary" >/dev/null 2>&1 && ! ldd "$binary" 2>&1 | grep -q 'not a dynamic executable\|statically linked'; then
    die "$binary is dynamically linked: $(ldd "$binary" | tr '\n' ' ')"
  fi
  local ctx
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' RETURN
  cp Dockerfile "$ctx/Dockerfile"
  cp "$binary" "$ctx/mesos-operator"
  strip "$ctx/mesos-operator" 2>/dev/null || true
  log "building $IMAGE"
  "${buildah[@]}" bud --quiet --layers=false --build-arg "VERSION=$version" \
    -t "$IMAGE" -f "$ctx/Dockerfile" "$ctx" >/dev/null
  "${buildah[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE" >&2
}

case "${1:-build}" in
  build) build ;;
  archive)
    [ -n "${2:-}" ] || die "usage: $0 archive FILE"
    build
    rm -f "$2"
    "${buildah[@]}" push --quiet "$IMAGE" "oci-archive:$2:$IMAGE" >/dev/null
    log "wrote $2"
    ;;
  push)
    [ -n "${2:-}" ] || die "usage: $0 push DEST"
    build
    "${buildah[@]}" push "$IMAGE" "docker://${2#docker://}"
    ;;
  *) die "unknown command: $1 (build, archive FILE, push DEST)" ;;
esac
