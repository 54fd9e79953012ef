#!/usr/bin/env bash
# One command from a fresh machine to a running demo: builds the cluster tools (first time
# only), starts a local cluster, installs the CRDs, runs the operator and applies
# examples/, then shows the tasks' states progressing.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(bash hack/tools.sh)"
bash hack/cluster.sh up
eval "$(bash hack/cluster.sh env)"
export KUBECONFIG
cargo build --quiet
bash hack/install-crds.sh
state="${CLUSTER_DIR:-$HOME/.cache/mesos-operator/cluster/default}"
if [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
  kill "$(cat "$state/operator.pid")" 2>/dev/null || true
  sleep 1
fi
nohup target/debug/mesos-operator run --scheduler-api-allow-anonymous --scheduler-api-namespace mesos-demo \
  --webhook-addr 127.0.0.1:9443 --webhook-configuration mesos-operator-dev-apps --webhook-secret-namespace default \
  >"$state/logs/operator.log" 2>&1 &
echo $! >"$state/operator.pid"
echo "operator running (pid $(cat "$state/operator.pid"), log $state/logs/operator.log)"

"$bin/kubectl" create namespace mesos-demo --dry-run=client -o yaml | "$bin/kubectl" apply -f - >/dev/null
"$bin/kubectl" -n mesos-demo delete tasks --all --ignore-not-found >/dev/null
"$bin/kubectl" -n mesos-demo apply -f examples/framework.yaml
"$bin/kubectl" -n mesos-demo apply -f examples/tasks.yaml
"$bin/kubectl" -n mesos-demo apply -f examples/placement.yaml   # zone UNIQUE: one per zone

echo
echo "watching the example tasks (STAGING -> RUNNING -> FINISHED / FAILED):"
for _ in $(seq 1 60); do
  out=$("$bin/kubectl" -n mesos-demo get tasks -o custom-columns=NAME:.metadata.name,STATE:.status.state,AGENT:.status.agent,REASON:.status.reason --no-headers)
  echo "--- $(date +%T)"
  echo "$out"
  states=$("$bin/kubectl" -n mesos-demo get tasks -o jsonpath='{range .items[*]}{.status.state}{"\n"}{end}')
  if [ -n "$states" ] && ! echo "$states" | grep -qvE 'TASK_(FINISHED|FAILED|KILLED|ERROR|DROPPED|GONE|LOST)$'; then break; fi
  sleep 2
done
echo
echo "each task's transitions (status.history):"
for t in $("$bin/kubectl" -n mesos-demo get tasks -o jsonpath='{.items[*].metadata.name}'); do
  printf '  %-8s %s\n' "$t" "$("$bin/kubectl" -n mesos-demo get task "$t" -o jsonpath='{range .status.history[*]}{.state} {end}' | sed 's/ $//; s/ / -> /g')"
done
echo
"$bin/kubectl" -n mesos-demo get frameworks,tasks
echo
# An unmodified Mesos framework (pymesos 0.3.15) on the scheduler API at :5050, when
# Python 3.10 is there for its venv.
if venv=$(bash tests/clients/setup.sh 2>/dev/null | tail -1) && [ -x "$venv/bin/python" ]; then
  echo "a pymesos framework launches 5 tasks through the Mesos scheduler API (127.0.0.1:5050):"
  "$venv/bin/python" tests/clients/pymesos_scheduler.py 127.0.0.1:5050 run 5 |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("  framework", r["framework_id"], r["final"])' || true
  "$bin/kubectl" -n mesos-demo get frameworks,tasks 2>/dev/null | head -12 || true
else
  echo "(skipping the pymesos demo: Python 3.10 is missing)"
fi
# Batch jobs (examples/batchjobs.yaml) in a namespace of their own: a cron job, a child
# that runs after it, a daily ISO 8601 job in Berlin time that also waits for its parent.
"$bin/kubectl" create namespace mesos-jobs --dry-run=client -o yaml | "$bin/kubectl" apply -f - >/dev/null
"$bin/kubectl" -n mesos-jobs apply -f examples/batchjobs.yaml
sleep 12
"$bin/kubectl" -n mesos-jobs get batchjobs,tasks
# Services (examples/apps.yaml): web waits for db, then rolls out 4 instances.
"$bin/kubectl" create namespace mesos-apps --dry-run=client -o yaml | "$bin/kubectl" apply -f - >/dev/null
# The Apps admission webhook (examples/webhook.yaml): the operator fills in its caBundle;
# an App with an unknown dependency is refused at apply, naming the field.
"$bin/kubectl" apply -f examples/webhook.yaml >/dev/null
for _ in $(seq 1 30); do
  [ -n "$("$bin/kubectl" get validatingwebhookconfiguration mesos-operator-dev-apps -o jsonpath='{.webhooks[0].clientConfig.caBundle}')" ] && break
  sleep 1
done
for _ in $(seq 1 15); do   # until the API server trusts the new caBundle
  "$bin/kubectl" -n mesos-apps apply -f examples/apps.yaml && break
  sleep 1
done
printf '{"apiVersion":"mesos.operator.dev/v1alpha1","kind":"App","metadata":{"name":"api"},"spec":{"instances":1,"dependencies":["cache"],"resources":{"cpus":0.1,"mem":32},"command":{"shell":"serve"}}}' |
  "$bin/kubectl" -n mesos-apps apply -f - 2>&1 | sed 's/^/  refused: /' || true
sleep 8
"$bin/kubectl" -n mesos-apps get apps,tasks
echo
echo "The cluster and operator keep running. Try:"
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  $bin/kubectl -n mesos-demo get mesos"
echo "  $bin/kubectl -n mesos-demo describe task sleepy"
echo "  curl -s 127.0.0.1:5050/state | python3 -m json.tool | head -40   # Mesos' /state"
echo "  $bin/kubectl -n mesos-jobs get bjob -w"
echo "  $bin/kubectl -n mesos-apps scale app/web --replicas 6; $bin/kubectl -n mesos-apps get mapp -w"
echo "  $bin/kubectl -n mesos-apps get mtask -o wide   # AGENT, host PORTS from the node's range, READY"
echo "Stop everything with: make down"
