#!/usr/bin/env bash
# App deployment time (issue 13): an App of N instances (default 100) rolled from version 1
# to version 2 under a few upgrade strategies, timed from the spec change being accepted
# by the API server to the App's status saying the deployment of version 2 is Complete
# (every instance of version 2 running, healthy and ready, none of version 1 left).
#
#   INSTANCES="100" STRATEGIES="1,1 0.9,0.1 0.5,0" bash bench/apps.sh
#
# Uses the cluster of the current KUBECONFIG (start one with hack/cluster.sh up) and the
# operator binary OPERATOR (default: the release build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl="${KUBECTL:-$HOME/.cache/mesos-operator/bin/kubectl}"
target="${CARGO_TARGET_DIR:-target}"
operator="${OPERATOR:-$target/release/mesos-operator}"
[ -x "$operator" ] || cargo build --release --bin mesos-operator
INSTANCES="${INSTANCES:-100}"
STRATEGIES="${STRATEGIES:-1,1 0.9,0.1 0.5,0}"
out="${OUT:-bench/results/apps.txt}"
mkdir -p "$(dirname "$out")"

manifest() { # name instances minHC maxOC version
  cat <<YAML
apiVersion: mesos.operator.dev/v1alpha1
kind: App
metadata: {name: $1}
spec:
  instances: $2
  resources: {cpus: 0.001, mem: 1}
  command: {shell: "serve v$5"}
  upgradeStrategy: {minimumHealthCapacity: $3, maximumOverCapacity: $4, progressDeadlineSeconds: 0}
YAML
}

# Seconds (float) until App $2 in namespace $1 reports version $3 Complete for its generation.
wait_complete() {
  local ns=$1 name=$2 version=$3 start=$4
  while true; do
    got=$("$kubectl" -n "$ns" get app "$name" -o jsonpath='{.metadata.generation} {.status.observedGeneration} {.status.version} {.status.deployment.phase}' 2>/dev/null || true)
    read -r gen obs ver phase <<<"$got"
    if [ "${gen:-x}" = "${obs:-y}" ] && [ "${ver:-}" = "$version" ] && [ "${phase:-}" = "Complete" ]; then
      python3 -c "import time; print(f'{time.time() - $start:.2f}')"
      return
    fi
    sleep 0.1
  done
}

for n in $INSTANCES; do
  for s in $STRATEGIES; do
    min=${s%,*}; over=${s#*,}
    ns="bench-apps-$n-${min/./}-${over/./}"
    "$kubectl" delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
    "$kubectl" create namespace "$ns" >/dev/null
    "$operator" run --namespace "$ns" --metrics-addr 127.0.0.1:0 >"/tmp/$ns.log" 2>&1 &
    pid=$!
    start=$(python3 -c 'import time; print(time.time())')
    manifest web "$n" "$min" "$over" 1 | "$kubectl" -n "$ns" apply --server-side -f - >/dev/null
    first=$(wait_complete "$ns" web 1 "$start")
    start=$(python3 -c 'import time; print(time.time())')
    manifest web "$n" "$min" "$over" 2 | "$kubectl" -n "$ns" apply --server-side -f - >/dev/null
    second=$(wait_complete "$ns" web 2 "$start")
    tasks=$("$kubectl" -n "$ns" get tasks -l mesos.operator.dev/app=web --no-headers | wc -l)
    echo "$(date -u +%FT%TZ) instances=$n minimumHealthCapacity=$min maximumOverCapacity=$over first_deploy_s=$first rollout_v1_to_v2_s=$second tasks_after=$tasks" | tee -a "$out"
    # Delete while the operator runs: the Tasks' finalizers need it.
    "$kubectl" delete namespace "$ns" --wait=true --timeout=120s >/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
