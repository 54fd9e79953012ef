#!/usr/bin/env bash
# Tasks/s through the Mesos scheduler API (pymesos 0.3.15) beside the same tasks through
# `kubectl apply` (a Builtin framework), API-server writes per task, and memory per
# subscribed framework. Needs a running cluster (KUBECONFIG) and a built operator.
#
#   bash bench/scheduler-api.sh [TASKS] [PORT_BASE]
#
# With AGENTS=N (e.g. 100) it first measures API-server writes per offer: N kwok nodes
# (its own pool), one framework that declines every offer (refuse 1 s) for 30 s.
set -euo pipefail
n=${1:-200}
base=${2:-35060}
repo=$(cd "$(dirname "$0")/.." && pwd)
op=${OPERATOR:-${CARGO_TARGET_DIR:-$repo/target}/debug/mesos-operator}
kubectl=${KUBECTL:-$HOME/.cache/mesos-operator/bin/kubectl}
venv=$(bash "$repo/tests/clients/setup.sh" | tail -1)
ns_api=bench-api-$$
ns_kubectl=bench-kubectl-$$
writes() { # non-GET requests the operator made, from its /metrics
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^mesos_operator_api_requests_total/ && !/verb="(get|list|watch)"/ {s+=$NF} END {print s+0}'
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cleanup() {
  kill "${pid:-}" 2>/dev/null || true
  for p in "${streams[@]:-}"; do kill "$p" 2>/dev/null || true; done
  "$kubectl" delete ns "$ns_api" "$ns_kubectl" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

# 0. Writes per offer at $AGENTS agents (offers are Offer objects).
if [ -n "${AGENTS:-}" ]; then
  ns_offers=bench-offers-$$
  pool=bench-pool-$$
  "$kubectl" create ns "$ns_offers" >/dev/null
  for i in $(seq "$AGENTS"); do cat <<YAML
---
apiVersion: v1
kind: Node
metadata:
  name: $pool-$i
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, bench-pool: "$pool", kubernetes.io/hostname: $pool-$i}
status:
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
YAML
  done | "$kubectl" apply -f - >/dev/null
  "$op" run --namespace "$ns_offers" --node-selector "bench-pool=$pool" \
    --metrics-addr "127.0.0.1:$((base + 5))" --scheduler-api-addr "127.0.0.1:$((base + 4))" \
    --scheduler-api-allow-anonymous >"/tmp/$ns_offers.log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$((base + 4))/health" >/dev/null; do sleep 0.2; done
  curl -s "http://127.0.0.1:$((base + 5))/metrics" | grep '^mesos_operator_api_requests_total' >"/tmp/$ns_offers.before"
  churn=$("$venv/bin/python" "$repo/bench/offer_churn.py" "127.0.0.1:$((base + 4))" 30 1 | tail -1)
  sleep 2
  curl -s "http://127.0.0.1:$((base + 5))/metrics" | grep '^mesos_operator_api_requests_total' >"/tmp/$ns_offers.after"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
  echo "offers at $AGENTS agents, one framework declining everything (refuse 1 s) for 30 s: $churn"
  python3 - "/tmp/$ns_offers.before" "/tmp/$ns_offers.after" "$churn" <<'PY'
import json, re, sys
def load(path):
    out = {}
    for line in open(path):
        m = re.match(r'\S+\{(.*)\} (\S+)', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels.get("verb") not in ("get", "list", "watch"):
                out[(labels.get("resource"), labels.get("verb"))] = float(m.group(2))
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
offers = json.loads(sys.argv[3])["offers"]
total = 0
for key in sorted(b):
    d = b[key] - a.get(key, 0)
    if d:
        total += d
        print(f"  {key[0]:>12} {key[1]:<8} {d:6.0f}  ({d / max(offers, 1):.2f} per offer)")
print(f"writes per offer: {total / max(offers, 1):.2f} ({total:.0f} writes, {offers} offers)")
PY
  "$kubectl" delete nodes -l "bench-pool=$pool" --wait=false >/dev/null
  "$kubectl" delete ns "$ns_offers" --wait=false >/dev/null
fi

# 1. Through the scheduler API.
"$kubectl" create ns "$ns_api" >/dev/null
"$op" run --namespace "$ns_api" --metrics-addr "127.0.0.1:$((base + 1))" \
  --scheduler-api-addr "127.0.0.1:$base" --scheduler-api-allow-anonymous >"/tmp/$ns_api.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$base/health" >/dev/null; do sleep 0.2; done
w0=$(writes $((base + 1)))
curl -s "http://127.0.0.1:$((base + 1))/metrics" | grep '^mesos_operator_api_requests_total' >"/tmp/$ns_api.before"
out=$(SCENARIO_TIMEOUT=600 "$venv/bin/python" "$repo/tests/clients/pymesos_scheduler.py" "127.0.0.1:$base" run "$n" | tail -1)
api_seconds=$(echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["completed"], r; print("%.2f" % r["seconds"])')
sleep 3 # the acknowledgements' annotation writes
w1=$(writes $((base + 1)))
curl -s "http://127.0.0.1:$((base + 1))/metrics" | grep '^mesos_operator_api_requests_total' >"/tmp/$ns_api.after"
echo "writes by resource and verb during the API run:"
python3 - "/tmp/$ns_api.before" "/tmp/$ns_api.after" "$n" <<'PY'
import re, sys
def load(path):
    out = {}
    for line in open(path):
        m = re.match(r'\S+\{(.*)\} (\S+)', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels.get("verb") not in ("get", "list", "watch"):
                out[(labels.get("resource"), labels.get("verb"))] = float(m.group(2))
    return out
a, b, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
for key in sorted(b):
    d = b[key] - a.get(key, 0)
    if d:
        print(f"  {key[0]:>12} {key[1]:<8} {d:6.0f}  ({d / n:.2f} per task)")
PY
# Memory per subscribed framework: 20 idle frameworks (open SUBSCRIBE streams).
sleep 2
m0=$(rss "$pid")
streams=()
for i in $(seq 20); do
  curl -sN -X POST "http://127.0.0.1:$base/api/v1/scheduler" -H 'Content-Type: application/json' \
    -d "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"root\",\"name\":\"idle-$i\"}}}" >/dev/null &
  streams+=($!)
done
sleep 8
m1=$(rss "$pid")
kill "$pid"; wait "$pid" 2>/dev/null || true
pid=

# 2. The same tasks through kubectl apply (Builtin framework).
"$kubectl" create ns "$ns_kubectl" >/dev/null
"$op" run --namespace "$ns_kubectl" --metrics-addr "127.0.0.1:$((base + 3))" \
  --scheduler-api-addr "127.0.0.1:$((base + 2))" >"/tmp/$ns_kubectl.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$((base + 3))/readyz" >/dev/null; do sleep 0.2; done
"$kubectl" -n "$ns_kubectl" apply -f - >/dev/null <<YAML
apiVersion: mesos.operator.dev/v1alpha1
kind: Framework
metadata: {name: bench}
spec: {scheduler: Builtin}
YAML
manifest=$(for i in $(seq 0 $((n - 1))); do cat <<YAML
---
apiVersion: mesos.operator.dev/v1alpha1
kind: Task
metadata: {name: r-$i, annotations: {kwok.mesos.operator.dev/run-for: 1s}}
spec: {framework: bench, resources: {cpus: 0.01, mem: 8}, command: {shell: "echo r-$i"}}
YAML
done)
k0=$(writes $((base + 3)))
start=$(date +%s.%N)
echo "$manifest" | "$kubectl" -n "$ns_kubectl" apply -f - >/dev/null
until [ "$("$kubectl" -n "$ns_kubectl" get tasks -o jsonpath='{range .items[*]}{.status.state}{"\n"}{end}' | grep -c TASK_FINISHED)" -ge "$n" ]; do sleep 0.2; done
kubectl_seconds=$(echo "$(date +%s.%N) - $start" | bc)
sleep 3
k1=$(writes $((base + 3)))

python3 - "$n" "$api_seconds" "$kubectl_seconds" "$w0" "$w1" "$k0" "$k1" "$m0" "$m1" <<'PY'
import sys
n, api, kub, w0, w1, k0, k1, m0, m1 = sys.argv[1:]
n = int(n)
print(f"tasks: {n}")
print(f"scheduler API (pymesos): {float(api):.1f} s SUBSCRIBE -> all FINISHED, {n/float(api):.1f} tasks/s")
print(f"kubectl apply (Builtin): {float(kub):.1f} s apply -> all FINISHED, {n/float(kub):.1f} tasks/s")
print(f"operator writes per task: API {(int(w1)-int(w0))/n:.2f} (the framework's own writes are the operator's here), kubectl {(int(k1)-int(k0))/n:.2f} (+1 create by kubectl)")
print(f"memory per subscribed idle framework: {(int(m1)-int(m0))/20:.0f} KiB RSS")
PY
