#!/usr/bin/env bash
# End-to-end throughput benchmark: the same T pods run bare (nodeName set), through
# kube-scheduler, as T batch/v1 Jobs, as the same Jobs queued through Kueue, and as
# mesos-operator Tasks placed by its DRF allocator, on a local kwok cluster of N nodes. Writes bench/results/latest.json and prints a table.
#
#   bash bench/run.sh                   N=1000 nodes, T=10000 pods/tasks (make bench)
#   bash bench/run.sh --quick           100 nodes, 1000 pods/tasks
#   bash bench/run.sh --scaling         (100,1k) (300,3k) (1000,10k) (3000,10k); appends each
#                                       run to bench/results/scaling.json and draws
#                                       bench/results/scaling.png (make bench-scaling)
#   bash bench/run.sh -- --workloads operator   extra flags after -- go to the driver
#                                       (`cargo run -p mesos-operator-bench -- run --help`)
#
# Environment (defaults in brackets):
#   NODES [1000]  TASKS [10000]  FRAMEWORKS [10]  RUN_FOR [5s]  CONCURRENCY [32]
#   SCHEDULER_QPS [5000]  SCHEDULER_BURST [10000]   kube-scheduler's (and kube-controller-
#                 manager's, KCM_QPS/KCM_BURST, Kueue's are fixed at the same) client limits; the
#                 operator's and the driver's kube clients have no client-side limit
#   SCALING_SIZES ["100:1000 300:3000 1000:10000 3000:10000"]  nodes:tasks per scaling run
#   ALLOCATOR_BENCH [0]   1: the scaling mode also runs `cargo bench --bench allocator`
#   KEEP_CLUSTER [0]      1: leave the cluster running at the end (its kwok nodes keep
#                         the API server busy: stop it with `bash hack/cluster.sh down`)
# The benchmark uses its own cluster, never the development one:
#   CLUSTER_DIR [~/.cache/mesos-operator/cluster/bench]  ETCD_PORT [25890]
#   APISERVER_PORT [28543]  KCM_PORT [28357]  KWOK_PORT [28380]  SCHEDULER_PORT [28359]
set -euo pipefail
cd "$(dirname "$0")/.."

export CLUSTER_DIR="${CLUSTER_DIR:-$HOME/.cache/mesos-operator/cluster/bench}"
export ETCD_PORT="${ETCD_PORT:-25890}" APISERVER_PORT="${APISERVER_PORT:-28543}"
export KCM_PORT="${KCM_PORT:-28357}" KWOK_PORT="${KWOK_PORT:-28380}"
export SCHEDULER_PORT="${SCHEDULER_PORT:-28359}"
export SCHEDULER_QPS="${SCHEDULER_QPS:-5000}" SCHEDULER_BURST="${SCHEDULER_BURST:-10000}"
# The job controller (kube-controller-manager) gets the same client limits as kube-scheduler.
export KCM_QPS="${KCM_QPS:-$SCHEDULER_QPS}" KCM_BURST="${KCM_BURST:-$SCHEDULER_BURST}"
NODES="${NODES:-1000}" TASKS="${TASKS:-10000}" FRAMEWORKS="${FRAMEWORKS:-10}"
RUN_FOR="${RUN_FOR:-5s}" CONCURRENCY="${CONCURRENCY:-32}"
SCALING_SIZES="${SCALING_SIZES:-100:1000 300:3000 1000:10000 3000:10000}"

mode=single
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) NODES=100 TASKS=1000 ;;
    --scaling) mode=scaling ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\n==> %s\n' "$*" >&2; }

step "cluster tools and the bench cluster ($CLUSTER_DIR)"
bash hack/tools.sh >/dev/null
bash hack/tools.sh kueue >/dev/null   # the Kueue workload's manager and CRDs
# Node leases of 1000+ kwok nodes keep the API server busy; the nodes are created by
# `nodes N` below, not by `up`.
NODES=1 bash hack/cluster.sh up >/dev/null
# Stopped at the end, also on failure, unless KEEP_CLUSTER=1; its data stays for the next run.
if [ "${KEEP_CLUSTER:-0}" = 0 ]; then
  trap 'bash hack/cluster.sh down >/dev/null 2>&1 || true' EXIT
fi
eval "$(bash hack/cluster.sh env)"
export KUBECONFIG
bash hack/install-crds.sh

step "release build (operator and driver)"
cargo build --release -p mesos-operator -p mesos-operator-bench

run_once() { # run_once NODES TASKS [driver flags...]
  local n="$1" t="$2"
  shift 2
  step "$n kwok nodes"
  bash hack/cluster.sh nodes "$n"
  step "benchmark: $n nodes, $t pods/tasks, $FRAMEWORKS frameworks, run-for $RUN_FOR"
  target/release/bench run --nodes "$n" --tasks "$t" --frameworks "$FRAMEWORKS" \
    --run-for "$RUN_FOR" --concurrency "$CONCURRENCY" \
    --scheduler-qps "$SCHEDULER_QPS" --scheduler-burst "$SCHEDULER_BURST" \
    --operator-bin target/release/mesos-operator --cluster-sh hack/cluster.sh "$@" "${extra[@]}"
}

if [ "$mode" = scaling ]; then
  if [ "${ALLOCATOR_BENCH:-0}" = 1 ]; then
    step "allocator criterion benchmark"
    cargo bench --bench allocator -- --warm-up-time 1 --measurement-time 3
  fi
  for size in $SCALING_SIZES; do
    run_once "${size%%:*}" "${size##*:}" --append bench/results/scaling.json \
      --out "bench/results/run-${size%%:*}n-${size##*:}t.json"
  done
  target/release/bench chart --input bench/results/scaling.json --output bench/results/scaling.png
else
  run_once "$NODES" "$TASKS"
fi
