#!/usr/bin/env bash
# Regenerates crds/ and charts/mesos-operator/crds/ from the Rust types (one file per kind).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/mesos-operator"
for dir in crds charts/mesos-operator/crds; do
  mkdir -p "$dir"
  rm -f "$dir"/*.yaml
  "$bin" crds --split "$dir"
done
echo "CRDs written to crds/ and charts/mesos-operator/crds/"
