#!/usr/bin/env bash
# Installs (or updates) the CRDs with server-side apply and waits until they are served.
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl="$(bash hack/tools.sh bindir)/kubectl"
"$kubectl" apply --server-side --force-conflicts --field-manager=mesos-operator -f crds/ >/dev/null
for f in crds/*.yaml; do
  name=$(awk '/^  name: /{print $2; exit}' "$f")
  "$kubectl" wait --for condition=established --timeout=60s "crd/$name" >/dev/null
done
echo "CRDs installed"
