#!/usr/bin/env bash
# Batch-job scheduling accuracy and capacity (issue 14): N BatchJobs with a one-minute
# cron period (`* * * * *`, so all N are due at the same second: the worst case), run by
# one operator for MINUTES minutes. Reports, per N, the fire lateness (the run's
# `mesos.operator.dev/fired-at` annotation minus its slot; both from the operator's
# clock) p50/p99/max, the runs made against the slots due, and slots skipped.
#
#   JOBS="100 300 1000" MINUTES=3 bash bench/jobs.sh
#
# Uses the cluster of the current KUBECONFIG (start one with hack/cluster.sh up) and the
# operator binary OPERATOR (default: the release build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl="${KUBECTL:-$HOME/.cache/mesos-operator/bin/kubectl}"
target="${CARGO_TARGET_DIR:-target}"
operator="${OPERATOR:-$target/release/mesos-operator}"
[ -x "$operator" ] || cargo build --release --bin mesos-operator
JOBS="${JOBS:-100 300 1000}"
MINUTES="${MINUTES:-3}" # at most 5: each job keeps its last 5 runs
out="${OUT:-bench/results/jobs.txt}"
mkdir -p "$(dirname "$out")"

for n in $JOBS; do
  ns="bench-jobs-$n"
  "$kubectl" delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
  "$kubectl" create namespace "$ns" >/dev/null
  "$operator" run --namespace "$ns" --metrics-addr 127.0.0.1:0 >"/tmp/bench-jobs-$n.log" 2>&1 &
  pid=$!
  python3 - "$n" <<'PY' | "$kubectl" -n "$ns" apply --server-side -f - >/dev/null
import sys
n = int(sys.argv[1])
for i in range(n):
    print(f"""---
apiVersion: mesos.operator.dev/v1alpha1
kind: BatchJob
metadata: {{name: job-{i:04d}}}
spec:
  schedule: "* * * * *"
  resources: {{cpus: 0.001, mem: 1}}
  command: {{shell: "true"}}
  successfulRunsHistoryLimit: 5
  catchUp: {{policy: None}}
  runAnnotations: {{kwok.mesos.operator.dev/run-for: "1s"}}""")
PY
  # Start counting at the next minute boundary, so every job exists for every slot counted.
  sleep $(( 60 - $(date +%s) % 60 + 1 ))
  from=$(date -u +%s)
  sleep $(( MINUTES * 60 - 2 ))
  to=$(date -u +%s)
  sleep 20 # let the last slot's runs be created
  "$kubectl" -n "$ns" get tasks -o json >"/tmp/bench-jobs-$n.json"
  "$kubectl" -n "$ns" get batchjobs -o json >"/tmp/bench-jobs-$n-jobs.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$n" "$from" "$to" "/tmp/bench-jobs-$n.json" "/tmp/bench-jobs-$n-jobs.json" <<'PY' | tee -a "$out"
import json, sys, datetime
n, start, end = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
late = []
for t in json.load(open(sys.argv[4]))["items"]:
    a = t["metadata"].get("annotations", {})
    if "mesos.operator.dev/slot" not in a:
        continue
    slot = ts(a["mesos.operator.dev/slot"])
    if start <= slot <= end:
        late.append((ts(a["mesos.operator.dev/fired-at"]) - slot) * 1000)
slots = len([s for s in range(start, end + 1) if s % 60 == 0]) * n
skipped = sum(j.get("status", {}).get("skippedSlots", 0) for j in json.load(open(sys.argv[5]))["items"])
late.sort()
pct = lambda p: late[min(len(late) - 1, max(0, -(-len(late) * p // 100) - 1))] if late else float("nan")
print(f"jobs={n} slots_due={slots} runs={len(late)} skipped_total={skipped} "
      f"lateness_ms p50={pct(50):.0f} p99={pct(99):.0f} max={late[-1] if late else float('nan'):.0f}")
PY
  "$kubectl" delete namespace "$ns" --wait=false >/dev/null
done
