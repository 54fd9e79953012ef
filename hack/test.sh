#!/usr/bin/env bash
# The whole test suite: formatting, lint, unit and property tests, CRD drift, and the
# end-to-end tests against a real local cluster that this script starts (or reuses).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { printf '\n==> %s\n' "$*"; }

# A fresh build of every target plus the image and the cluster's data takes about 10 GiB.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt $((10 * 1024 * 1024)) ]; then
  echo "warning: only $((free_kib / 1024)) MiB free on $(df -P . | awk 'NR == 2 { print $6 }'); the build and tests need about 10 GiB" >&2
fi

step "cluster tools (cached by version under \${MESOS_OPERATOR_CACHE:-~/.cache/mesos-operator})"
bash hack/tools.sh >/dev/null

step "system packages"
# buildah builds the container image without a daemon (tests/image.rs).
if ! command -v buildah >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null
  else
    echo "buildah is missing: install it (apt-get install buildah) for the image test" >&2
  fi
fi

step "formatting and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "local cluster"
bash hack/cluster.sh up
eval "$(bash hack/cluster.sh env)"
export KUBECONFIG
bash hack/install-crds.sh

step "tests (unit, property, CRD drift, end-to-end)"
# RUST_TEST_THREADS, not --test-threads: the criterion bench target (run once as a test)
# does not take libtest's flags.
RUST_TEST_THREADS="${TEST_THREADS:-4}" cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee target/test-output.log
echo
echo "test time: $((SECONDS - start)) s"
