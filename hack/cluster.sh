#!/usr/bin/env bash
# A real, local Kubernetes control plane on 127.0.0.1 for development and end-to-end
# tests: etcd, kube-apiserver, kube-controller-manager and kwok (fake nodes and pods),
# plus kube-scheduler on demand. No containers, no downloads: the binaries come from
# hack/tools.sh.
#
#   hack/cluster.sh up                  start (or reuse) the cluster; make sure fake nodes
#                                       kwok-node-0..$NODES-1 exist (never deletes nodes)
#   hack/cluster.sh down [--purge]      stop every process (SIGTERM, SIGKILL after
#                                       $STOP_TIMEOUT s); --purge also deletes $CLUSTER_DIR
#   hack/cluster.sh status              show processes, health and nodes (exit 1 if not healthy)
#   hack/cluster.sh env                 print export lines: eval "$(hack/cluster.sh env)" sets
#                                       KUBECONFIG, CLUSTER_DIR and PATH (cached kubectl first)
#   hack/cluster.sh restart-apiserver   stop kube-apiserver and start it again, same argv
#   hack/cluster.sh nodes N             exactly N fake nodes kwok-node-0..N-1 (creates the
#                                       missing ones, deletes other kwok nodes), waits Ready
#   hack/cluster.sh scheduler [stop]    start kube-scheduler (restarted if SCHEDULER_QPS/BURST
#                                       changed) / stop it; `up` does not start it
#
# Environment (defaults in brackets). Ports are remembered per CLUSTER_DIR in
# $CLUSTER_DIR/cluster.env, so later commands on the same directory need only CLUSTER_DIR.
#   CLUSTER_DIR       [$MESOS_OPERATOR_CACHE/cluster/default; cache: ~/.cache/mesos-operator]
#   ETCD_PORT         [23790]   etcd client port; the peer port is ETCD_PORT+1
#   APISERVER_PORT    [26443]
#   KCM_PORT          [26257]   kube-controller-manager secure (health) port
#   KWOK_PORT         [26247]   kwok health/metrics server
#   SCHEDULER_PORT    [26259]   kube-scheduler secure (health) port
#   NODES             [4]       fake nodes created by `up`
#   NODE_CPU [32]  NODE_MEMORY [256Gi]  NODE_PODS [110]  NODE_EPHEMERAL_STORAGE [1Ti]
#   SCHEDULER_QPS [50]  SCHEDULER_BURST [100]   kube-scheduler client rate limits
#   KCM_QPS [100]  KCM_BURST [200]              kube-controller-manager client rate limits
#   KWOK_PARALLELISM  [16]      kwok workers for pod/node stages and node leases
#   KWOK_LOG_LEVEL    [WARN]    kwok log level (INFO logs every patch)
#   NODE_MONITOR_GRACE_PERIOD [50s]  node-lifecycle-controller grace before NotReady
#   STOP_TIMEOUT      [20]      seconds between SIGTERM and SIGKILL in `down`
#   START_TIMEOUT     [60]      seconds to wait for each component to become healthy
#   APISERVER_EXTRA_ARGS, KCM_EXTRA_ARGS, KWOK_EXTRA_ARGS, ETCD_EXTRA_ARGS (word-split)
#
# Files under $CLUSTER_DIR: kubeconfig (admin, client certificate), logs/<component>.log,
# run/<component>.pid and .args (argv, NUL-separated), pki/, etcd/ (data), cluster.env.
# Fake nodes: annotation kwok.x-k8s.io/node=fake; labels type=kwok, kubernetes.io/hostname,
# kubernetes.io/os=linux, kubernetes.io/arch=amd64, topology.kubernetes.io/zone=zone-<i%3>;
# no taints; capacity = allocatable from NODE_*. kwok keeps them Ready (node leases).
# Pod and node behaviour (annotations kwok.mesos.operator.dev/run-for, exit-code, reason,
# message on pods; not-ready on nodes; simulating unreachable nodes): hack/kwok/stages.yaml.
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${MESOS_OPERATOR_CACHE:-$HOME/.cache/mesos-operator}"
CLUSTER_DIR="$(realpath -m "${CLUSTER_DIR:-$CACHE/cluster/default}")"
STAGES_FILE="$HACK_DIR/kwok/stages.yaml"

NODES="${NODES:-4}"
NODE_CPU="${NODE_CPU:-32}"
NODE_MEMORY="${NODE_MEMORY:-256Gi}"
NODE_PODS="${NODE_PODS:-110}"
NODE_EPHEMERAL_STORAGE="${NODE_EPHEMERAL_STORAGE:-1Ti}"
SCHEDULER_QPS="${SCHEDULER_QPS:-50}"
SCHEDULER_BURST="${SCHEDULER_BURST:-100}"
KCM_QPS="${KCM_QPS:-100}"
KCM_BURST="${KCM_BURST:-200}"
KWOK_PARALLELISM="${KWOK_PARALLELISM:-16}"
KWOK_LOG_LEVEL="${KWOK_LOG_LEVEL:-WARN}"
NODE_MONITOR_GRACE_PERIOD="${NODE_MONITOR_GRACE_PERIOD:-50s}"
STOP_TIMEOUT="${STOP_TIMEOUT:-20}"
START_TIMEOUT="${START_TIMEOUT:-60}"

PORT_VARS=(ETCD_PORT APISERVER_PORT KCM_PORT KWOK_PORT SCHEDULER_PORT)
declare -A PORT_DEFAULTS=([ETCD_PORT]=23790 [APISERVER_PORT]=26443 [KCM_PORT]=26257
  [KWOK_PORT]=26247 [SCHEDULER_PORT]=26259)

PKI="$CLUSTER_DIR/pki"
LOGS="$CLUSTER_DIR/logs"
RUN="$CLUSTER_DIR/run"
KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig"
CONFIG_FILE="$CLUSTER_DIR/cluster.env"
# Stop order; start order is the reverse for the core four.
COMPONENTS=(kube-scheduler kwok kube-controller-manager kube-apiserver etcd)
FIELD_MANAGER=mesos-operator-cluster-sh
BIN=""

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- configuration ---------------------------------------------------------------------

# Ports: explicit environment > $CLUSTER_DIR/cluster.env > defaults. SAVED holds the file's.
load_config() {
  local var key value
  declare -gA SAVED=()
  if [ -f "$CONFIG_FILE" ]; then
    while IFS='=' read -r key value; do
      [[ "$key" =~ ^[A-Z_]+$ ]] && SAVED[$key]="$value"
    done < "$CONFIG_FILE"
  fi
  for var in "${PORT_VARS[@]}"; do
    if [ -z "${!var:-}" ]; then
      printf -v "$var" '%s' "${SAVED[$var]:-${PORT_DEFAULTS[$var]}}"
    fi
    [[ "${!var}" =~ ^[0-9]+$ ]] || die "$var must be a port number, got '${!var}'"
  done
  ETCD_PEER_PORT=$((ETCD_PORT + 1))
}

# Refuses to change ports under running processes; records the ports otherwise.
save_config() {
  local var changed=()
  for var in "${PORT_VARS[@]}"; do
    if [ -n "${SAVED[$var]:-}" ] && [ "${SAVED[$var]}" != "${!var}" ]; then changed+=("$var"); fi
  done
  if [ "${#changed[@]}" -gt 0 ] && any_running; then
    die "${changed[*]} differ from the running cluster in $CLUSTER_DIR ($CONFIG_FILE); run '$0 down' first"
  fi
  {
    for var in "${PORT_VARS[@]}"; do printf '%s=%s\n' "$var" "${!var}"; done
  } > "$CONFIG_FILE.tmp"
  mv "$CONFIG_FILE.tmp" "$CONFIG_FILE"
}

find_bin() {
  local n missing=0
  BIN="$(bash "$HACK_DIR/tools.sh" bindir)"
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [ -x "$BIN/$n" ] || missing=1
  done
  if [ "$missing" = 1 ]; then
    log "some binaries are missing in $BIN; building them with hack/tools.sh (slow the first time)"
    BIN="$(bash "$HACK_DIR/tools.sh" | tail -n1)"
  fi
}

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# --- processes -------------------------------------------------------------------------

pid_of() { # prints the pid when the component is running for this CLUSTER_DIR
  local name="$1" pid
  [ -f "$RUN/$name.pid" ] || return 1
  pid="$(cat "$RUN/$name.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the command line must mention this cluster's directory.
  tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CLUSTER_DIR/" || return 1
  printf '%s' "$pid"
}

alive() { # alive PID: running and not a zombie
  kill -0 "$1" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

any_running() {
  local c
  for c in "${COMPONENTS[@]}"; do pid_of "$c" >/dev/null && return 0; done
  return 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# launch NAME PORT...: starts the process recorded in run/NAME.args, detached in its own
# session, output appended to logs/NAME.log.
launch() {
  local name="$1" port argv=() logf="$LOGS/$1.log"
  shift
  for port in "$@"; do
    port_busy "$port" && die "port 127.0.0.1:$port (for $name) is already in use by another process"
  done
  mapfile -d '' argv < "$RUN/$name.args"
  if [ -f "$logf" ] && [ "$(stat -c %s "$logf")" -gt $((200 * 1024 * 1024)) ]; then
    mv -f "$logf" "$logf.old"
  fi
  printf '\n===== %s starting %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${argv[*]}" >> "$logf"
  # setsid does not fork here (we are not a process group leader), so $! is the pid of
  # the component itself (env and setsid exec into it).
  setsid "${argv[@]}" < /dev/null >> "$logf" 2>&1 &
  echo "$!" > "$RUN/$name.pid"
}

# record NAME ARGV...: stores the argv used by launch and restart.
record() {
  local name="$1"
  shift
  printf '%s\0' "$@" > "$RUN/$name.args"
}

log_tail() {
  local name="$1"
  printf '[cluster] ---- last lines of %s ----\n' "$LOGS/$name.log" >&2
  tail -n 40 "$LOGS/$name.log" >&2 || true
  printf '[cluster] ----\n' >&2
}

# wait_healthy NAME CHECK-FUNCTION: polls until healthy, the process dies or START_TIMEOUT.
wait_healthy() {
  local name="$1" check="$2" deadline pid
  deadline=$(($(date +%s) + START_TIMEOUT))
  pid="$(cat "$RUN/$name.pid")"
  while :; do
    # Not pid_of: right after launch the child may not have exec'd the component yet.
    if ! alive "$pid"; then
      log "$name exited during start-up"
      log_tail "$name"
      exit 1
    fi
    "$check" && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$name not healthy after ${START_TIMEOUT}s"
      log_tail "$name"
      exit 1
    fi
    sleep 0.1
  done
}

stop() { # stop NAME...: SIGTERM all, wait STOP_TIMEOUT, SIGKILL the rest
  local name pid pids=() names=() deadline running
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("$name")
    else
      rm -f "$RUN/$name.pid"
    fi
  done
  [ "${#pids[@]}" -eq 0 ] && return 0
  deadline=$(($(date +%s) + STOP_TIMEOUT))
  while :; do
    running=()
    for pid in "${pids[@]}"; do alive "$pid" && running+=("$pid"); done
    [ "${#running[@]}" -eq 0 ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "sending SIGKILL to ${running[*]} after ${STOP_TIMEOUT}s"
      kill -KILL "${running[@]}" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
  for name in "${names[@]}"; do rm -f "$RUN/$name.pid"; done
  log "stopped ${names[*]}"
}

# --- health checks ---------------------------------------------------------------------

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}
apiserver_healthy() {
  [ "$(curl -sS --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null)" = ok ]
}
kcm_healthy() {
  [ "$(curl -sSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null)" = ok ]
}
kwok_healthy() {
  [ "$(curl -sS --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz" 2>/dev/null)" = ok ]
}
scheduler_healthy() {
  [ "$(curl -sSk --max-time 2 "https://127.0.0.1:$SCHEDULER_PORT/healthz" 2>/dev/null)" = ok ]
}

# --- certificates and kubeconfig -------------------------------------------------------

PKI_FILES=(ca.crt ca.key apiserver.crt apiserver.key admin.crt admin.key front-proxy-ca.crt
  front-proxy-client.crt front-proxy-client.key sa.key sa.pub)

pki_complete() {
  local f
  for f in "${PKI_FILES[@]}"; do [ -s "$PKI/$f" ] || return 1; done
}

# Incremental: only missing files are generated, so a cluster directory created by an
# older version of this script keeps its CA (and its kubeconfig keeps working).
gen_pki() {
  pki_complete && return 0
  command -v openssl >/dev/null || die "openssl is required"
  log "generating certificates in $PKI"
  mkdir -p "$PKI" && chmod 700 "$PKI"
  (
    cd "$PKI"
    exec 2>openssl.log
    serial() { printf '0x%s' "$(openssl rand -hex 16)"; }
    # ca NAME CN: a self-signed CA, written atomically
    ca() {
      [ -s "$1.crt" ] && [ -s "$1.key" ] && return 0
      openssl genrsa -out "$1.key.tmp" 2048
      openssl req -x509 -new -key "$1.key.tmp" -sha256 -days 3650 -set_serial "$(serial)" \
        -subj "/CN=$2" -out "$1.crt.tmp" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
      chmod 600 "$1.key.tmp"
      mv "$1.key.tmp" "$1.key" && mv "$1.crt.tmp" "$1.crt"
    }
    # issue CA NAME SUBJECT EXTENSIONS: a leaf certificate signed by CA
    issue() {
      [ -s "$2.crt" ] && [ -s "$2.key" ] && return 0
      openssl genrsa -out "$2.key.tmp" 2048
      openssl req -new -key "$2.key.tmp" -subj "$3" -out "$2.csr"
      printf '%s\n' "$4" > "$2.ext"
      openssl x509 -req -in "$2.csr" -CA "$1.crt" -CAkey "$1.key" -set_serial "$(serial)" \
        -days 3650 -sha256 -extfile "$2.ext" -out "$2.crt.tmp"
      rm -f "$2.csr" "$2.ext"
      chmod 600 "$2.key.tmp"
      mv "$2.key.tmp" "$2.key" && mv "$2.crt.tmp" "$2.crt"
    }
    ca ca mesos-operator-dev-ca
    issue ca apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    issue ca admin "/O=system:masters/CN=admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    # Front proxy (aggregation layer): its own CA, so that it cannot mint API users.
    ca front-proxy-ca mesos-operator-dev-front-proxy-ca
    issue front-proxy-ca front-proxy-client "/CN=front-proxy-client" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    if ! [ -s sa.key ] || ! [ -s sa.pub ]; then
      openssl genrsa -out sa.key.tmp 2048
      openssl rsa -in sa.key.tmp -pubout -out sa.pub.tmp
      chmod 600 sa.key.tmp
      mv sa.key.tmp sa.key && mv sa.pub.tmp sa.pub
    fi
    rm -f openssl.log
  ) || { cat "$PKI/openssl.log" >&2 || true; die "certificate generation failed"; }
}

write_kubeconfig() {
  local name ca cert key
  name="mesos-operator-$(basename "$CLUSTER_DIR")"
  ca="$(base64 -w0 < "$PKI/ca.crt")"
  cert="$(base64 -w0 < "$PKI/admin.crt")"
  key="$(base64 -w0 < "$PKI/admin.key")"
  cat > "$KUBECONFIG_FILE.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: $name-admin
  user:
    client-certificate-data: $cert
    client-key-data: $key
contexts:
- name: $name
  context:
    cluster: $name
    user: $name-admin
current-context: $name
EOF
  chmod 600 "$KUBECONFIG_FILE.tmp"
  mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
}

# --- components ------------------------------------------------------------------------

# shellcheck disable=SC2086 # *_EXTRA_ARGS are word-split on purpose
start_etcd() {
  pid_of etcd >/dev/null && etcd_healthy && return 0
  stop etcd
  record etcd "$BIN/etcd" \
    --name=default \
    --data-dir="$CLUSTER_DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync \
    --quota-backend-bytes=$((8 * 1024 * 1024 * 1024)) \
    --log-level=warn \
    ${ETCD_EXTRA_ARGS:-}
  launch etcd "$ETCD_PORT" "$ETCD_PEER_PORT"
  wait_healthy etcd etcd_healthy
}

# shellcheck disable=SC2086
record_apiserver() {
  record kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" \
    --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --allow-privileged=true \
    --max-requests-inflight=1000 \
    --max-mutating-requests-inflight=500 \
    --endpoint-reconciler-type=none \
    --shutdown-send-retry-after=true \
    --profiling=true \
    --v=1 \
    ${APISERVER_EXTRA_ARGS:-}
}

# --shutdown-send-retry-after bounds the HTTP server shutdown to 2 s; by default it waits
# up to --request-timeout (60 s) for open watch streams, so SIGTERM looked like a hang.
start_apiserver() {
  pid_of kube-apiserver >/dev/null && apiserver_healthy && return 0
  stop kube-apiserver
  record_apiserver
  launch kube-apiserver "$APISERVER_PORT"
  wait_healthy kube-apiserver apiserver_healthy
}

# shellcheck disable=SC2086
launch_kcm() {
  # Reused when healthy and started with the same client limits (the benchmark raises them).
  if pid_of kube-controller-manager >/dev/null && kcm_healthy &&
    grep -qzx -- "--kube-api-qps=$KCM_QPS" "$RUN/kube-controller-manager.args" 2>/dev/null &&
    grep -qzx -- "--kube-api-burst=$KCM_BURST" "$RUN/kube-controller-manager.args" 2>/dev/null; then
    return 0
  fi
  stop kube-controller-manager
  mkdir -p "$RUN/kube-controller-manager-certs"
  record kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" \
    --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --bind-address=127.0.0.1 \
    --secure-port="$KCM_PORT" \
    --cert-dir="$RUN/kube-controller-manager-certs" \
    --leader-elect=false \
    --controllers='*,-node-ipam-controller' \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" \
    --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials=false \
    --node-monitor-grace-period="$NODE_MONITOR_GRACE_PERIOD" \
    --kube-api-qps="$KCM_QPS" \
    --kube-api-burst="$KCM_BURST" \
    --v=1 \
    ${KCM_EXTRA_ARGS:-}
  launch kube-controller-manager "$KCM_PORT"
}

# kwok_spec: sets KWOK_CONF (its KwokConfiguration), KWOK_ARGS and KWOK_FINGERPRINT (which
# also covers the stages file, so that `up` restarts kwok when the stages change).
# shellcheck disable=SC2086,SC2206
kwok_spec() {
  KWOK_CONF="apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
metadata:
  name: kwok
options:
  podPlayStageParallelism: $KWOK_PARALLELISM
  nodePlayStageParallelism: $KWOK_PARALLELISM
  nodeLeaseParallelism: $KWOK_PARALLELISM"
  # KWOK_WORKDIR keeps kwok from also loading ~/.kwok/kwok.yaml.
  KWOK_ARGS=(env "KWOK_WORKDIR=$CLUSTER_DIR/kwok" "$BIN/kwok"
    --kubeconfig="$KUBECONFIG_FILE"
    --config="$CLUSTER_DIR/kwok/kwok-configuration.yaml"
    --config="$STAGES_FILE"
    --manage-all-nodes=false
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake
    --node-lease-duration-seconds=40
    --cidr=10.244.0.0/16
    --node-ip=10.0.0.1
    --server-address="127.0.0.1:$KWOK_PORT"
    -v="$KWOK_LOG_LEVEL"
    ${KWOK_EXTRA_ARGS:-})
  KWOK_FINGERPRINT="$({ printf '%s\0' "${KWOK_ARGS[@]}"; printf '%s' "$KWOK_CONF"; cat "$STAGES_FILE"; } | md5sum)"
}

kwok_current() {
  kwok_spec
  [ "$(cat "$RUN/kwok.fingerprint" 2>/dev/null)" = "$KWOK_FINGERPRINT" ]
}

# kwok picks a new random holder identity at every start and will not take over a node
# Lease still held by its previous incarnation until the lease expires (40 s): meanwhile
# it ignores those nodes and their pods, and the nodes risk going Unknown. All Leases in
# kube-node-lease belong to kwok nodes here, so drop them (one DELETE collection call);
# the new kwok re-creates them at once.
release_node_leases() {
  curl -sS --max-time 10 -o /dev/null -X DELETE --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" \
    --key "$PKI/admin.key" "https://127.0.0.1:$APISERVER_PORT/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases" ||
    log "could not delete the node leases; kwok may need up to 40 s to take its nodes over"
}

launch_kwok() {
  [ -f "$STAGES_FILE" ] || die "missing $STAGES_FILE"
  if pid_of kwok >/dev/null && kwok_healthy; then
    kwok_current && return 0
    log "kwok settings or $STAGES_FILE changed: restarting kwok"
  fi
  stop kwok
  release_node_leases
  kwok_spec
  mkdir -p "$CLUSTER_DIR/kwok"
  printf '%s\n' "$KWOK_CONF" > "$CLUSTER_DIR/kwok/kwok-configuration.yaml"
  record kwok "${KWOK_ARGS[@]}"
  printf '%s\n' "$KWOK_FINGERPRINT" > "$RUN/kwok.fingerprint"
  launch kwok "$KWOK_PORT"
}

scheduler_start() {
  pid_of kube-apiserver >/dev/null || die "the cluster in $CLUSTER_DIR is not running; run '$0 up' first"
  local conf="$CLUSTER_DIR/kube-scheduler.yaml"
  # --kube-api-qps/--kube-api-burst are deprecated in kube-scheduler; use its config file.
  cat > "$conf.new" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $KUBECONFIG_FILE
  qps: $SCHEDULER_QPS
  burst: $SCHEDULER_BURST
leaderElection:
  leaderElect: false
EOF
  mkdir -p "$RUN/kube-scheduler-certs"
  local args=("$BIN/kube-scheduler" --config="$conf"
    --authentication-kubeconfig="$KUBECONFIG_FILE"
    --authorization-kubeconfig="$KUBECONFIG_FILE"
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT"
    --cert-dir="$RUN/kube-scheduler-certs" --v=1)
  if pid_of kube-scheduler >/dev/null && scheduler_healthy && cmp -s "$conf" "$conf.new" &&
    [ "$(printf '%s\0' "${args[@]}" | md5sum)" = "$(md5sum < "$RUN/kube-scheduler.args")" ]; then
    rm -f "$conf.new"
    log "kube-scheduler already running (qps $SCHEDULER_QPS, burst $SCHEDULER_BURST)"
    return 0
  fi
  stop kube-scheduler
  mv "$conf.new" "$conf"
  record kube-scheduler "${args[@]}"
  launch kube-scheduler "$SCHEDULER_PORT"
  wait_healthy kube-scheduler scheduler_healthy
  log "kube-scheduler running on 127.0.0.1:$SCHEDULER_PORT (qps $SCHEDULER_QPS, burst $SCHEDULER_BURST), log $LOGS/kube-scheduler.log"
}

# --- nodes -----------------------------------------------------------------------------

node_json() { # node_json INDEX
  local n="kwok-node-$1"
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},"labels":{"type":"kwok","kubernetes.io/hostname":"%s","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","topology.kubernetes.io/zone":"zone-%d"}},"spec":{},"status":{"capacity":%s,"allocatable":%s}}' \
    "$n" "$n" $(($1 % 3)) "$RESOURCES" "$RESOURCES"
}

node_list() { # node_list INDEX...
  local i first=1
  printf '{"apiVersion":"v1","kind":"List","items":['
  for i in "$@"; do
    [ "$first" = 1 ] || printf ','
    first=0
    node_json "$i"
  done
  printf ']}\n'
}

# apply_nodes [--subresource=status] INDEX...: server-side apply in parallel chunks.
apply_nodes() {
  local extra=() idx=() chunk=200 jobs=4 i pids=() rc=0
  if [ "${1:-}" = --subresource=status ]; then extra=("$1"); shift; fi
  idx=("$@")
  [ "${#idx[@]}" -eq 0 ] && return 0
  for ((i = 0; i < ${#idx[@]}; i += chunk)); do
    node_list "${idx[@]:i:chunk}" |
      kc apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" "${extra[@]}" -f - >/dev/null &
    pids+=("$!")
    if [ "${#pids[@]}" -ge "$jobs" ]; then
      wait "${pids[0]}" || rc=1
      pids=("${pids[@]:1}")
    fi
  done
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  return "$rc"
}

# existing kwok nodes as "name cpu memory pods ephemeral-storage ready" lines
list_nodes() {
  kc get nodes -l type=kwok --chunk-size=0 -o jsonpath='{range .items[*]}{.metadata.name} {.status.capacity.cpu} {.status.capacity.memory} {.status.capacity.pods} {.status.capacity.ephemeral-storage} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
}

# delete_nodes NAME...: parallel DELETEs with curl (kubectl delete is client-side
# throttled to 5 requests/s, i.e. minutes for a thousand nodes). The node leases go too,
# right away: a node re-created under the same name before the garbage collector removed
# its old lease would otherwise be seen as not heart-beating (Unknown) for a moment.
delete_nodes() {
  local failed api="https://127.0.0.1:$APISERVER_PORT"
  failed="$({
    printf 'url = "'"$api"'/api/v1/nodes/%s"\noutput = "/dev/null"\n' "$@"
    printf 'url = "'"$api"'/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/%s"\noutput = "/dev/null"\n' "$@"
  } |
    curl -sS --no-progress-meter -Z --parallel-max 16 -X DELETE -w '%{http_code} %{url}\n' \
      --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" -K - |
    awk '$1 != 200 && $1 != 202 && $1 != 404')" || true
  [ -z "$failed" ] || die "deleting nodes failed: $(head -n 3 <<< "$failed")"
}

# ensure_nodes N PRUNE: nodes kwok-node-0..N-1 exist with the configured capacity; with
# PRUNE=1 other kwok nodes are deleted. Waits until the N nodes are Ready.
ensure_nodes() {
  local n="$1" prune="$2" start name cpu mem pods eph i
  [[ "$n" =~ ^[0-9]+$ ]] || die "node count must be a number, got '$n'"
  start="$(now)"
  RESOURCES="{\"cpu\":\"$NODE_CPU\",\"memory\":\"$NODE_MEMORY\",\"pods\":\"$NODE_PODS\",\"ephemeral-storage\":\"$NODE_EPHEMERAL_STORAGE\"}"
  local -A have=()
  local create=() restatus=() extra=()
  while read -r name cpu mem pods eph _; do
    [ -n "$name" ] || continue
    have[$name]="$cpu $mem $pods $eph"
    if [[ "$name" =~ ^kwok-node-([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -lt "$n" ] &&
      [ "kwok-node-${BASH_REMATCH[1]}" = "$name" ]; then
      :
    else
      extra+=("$name")
    fi
  done < <(list_nodes)
  for ((i = 0; i < n; i++)); do
    name="kwok-node-$i"
    if [ -z "${have[$name]:-}" ]; then
      create+=("$i")
    elif [ "${have[$name]}" != "$NODE_CPU $NODE_MEMORY $NODE_PODS $NODE_EPHEMERAL_STORAGE" ]; then
      restatus+=("$i")
    fi
  done
  if [ "$prune" = 1 ] && [ "${#extra[@]}" -gt 0 ]; then
    log "deleting ${#extra[@]} extra kwok nodes"
    delete_nodes "${extra[@]}"
  fi
  if [ "${#create[@]}" -gt 0 ]; then
    log "creating ${#create[@]} fake nodes (cpu $NODE_CPU, memory $NODE_MEMORY, pods $NODE_PODS)"
    apply_nodes "${create[@]}" || die "creating nodes failed"
  fi
  if [ "${#restatus[@]}" -gt 0 ]; then
    log "updating the capacity of ${#restatus[@]} nodes"
    # The main resource ignores status on update: apply it to the status subresource.
    apply_nodes --subresource=status "${restatus[@]}" || die "updating node status failed"
  fi
  wait_nodes_ready "$n"
  log "$n fake nodes Ready in $(elapsed "$start") s"
}

wait_nodes_ready() {
  local n="$1" deadline count
  deadline=$(($(date +%s) + START_TIMEOUT + n / 10))
  while :; do
    count="$(kc get nodes -l type=kwok --chunk-size=0 -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
      awk -v n="$n" '{ i = $1; sub(/^kwok-node-/, "", i) } $2 == "True" && i ~ /^[0-9]+$/ && i + 0 < n { c++ } END { print c + 0 }')"
    [ "$count" -ge "$n" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "only $count of $n nodes Ready"
      log_tail kwok
      exit 1
    fi
    sleep 0.2
  done
}

wait_default_service_account() {
  local deadline
  deadline=$(($(date +%s) + START_TIMEOUT))
  until kc get serviceaccount default -n default -o name >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "the default ServiceAccount never appeared"
      log_tail kube-controller-manager
      exit 1
    fi
    sleep 0.2
  done
}

# --- commands --------------------------------------------------------------------------

core_healthy() {
  pid_of etcd >/dev/null && etcd_healthy &&
    pid_of kube-apiserver >/dev/null && apiserver_healthy &&
    pid_of kube-controller-manager >/dev/null && kcm_healthy &&
    pid_of kwok >/dev/null && kwok_healthy
}

summary() {
  local version nodes
  version="$(basename "$(readlink "$BIN/kube-apiserver")")"
  version="${version#kube-apiserver-}"
  nodes="$(kc get nodes -l type=kwok --chunk-size=0 -o name | wc -l)"
  echo "KUBECONFIG=$KUBECONFIG_FILE"
  echo "cluster ready in $(elapsed "$1") s: kubernetes $version at https://127.0.0.1:$APISERVER_PORT, $nodes kwok nodes, dir $CLUSTER_DIR, logs $LOGS"
}

cmd_up() {
  local start
  start="$(now)"
  find_bin
  mkdir -p "$CLUSTER_DIR" "$LOGS" "$RUN"
  load_config
  save_config
  if pki_complete && [ -f "$KUBECONFIG_FILE" ] && core_healthy && kwok_current; then
    log "cluster in $CLUSTER_DIR already running; reusing it"
    if [ "$(list_nodes | awk -v n="$NODES" '{ i = $1; sub(/^kwok-node-/, "", i) } i ~ /^[0-9]+$/ && i + 0 < n { c++ } END { print c + 0 }')" -lt "$NODES" ]; then
      ensure_nodes "$NODES" 0
    fi
    summary "$start"
    return 0
  fi
  gen_pki
  write_kubeconfig
  start_etcd
  start_apiserver
  launch_kcm
  launch_kwok
  wait_healthy kube-controller-manager kcm_healthy
  wait_healthy kwok kwok_healthy
  ensure_nodes "$NODES" 0
  wait_default_service_account
  summary "$start"
}

cmd_down() {
  local purge=0
  case "${1:-}" in
    --purge) purge=1 ;;
    "") ;;
    *) die "usage: $0 down [--purge]" ;;
  esac
  load_config
  # The clients and kube-apiserver shut down independently; etcd must outlive them.
  stop kube-scheduler kwok kube-controller-manager kube-apiserver
  stop etcd
  if [ "$purge" = 1 ]; then
    case "$CLUSTER_DIR" in
      "" | / | "$HOME" | "$HOME/") die "refusing to delete CLUSTER_DIR=$CLUSTER_DIR" ;;
    esac
    rm -rf "$CLUSTER_DIR"
    log "deleted $CLUSTER_DIR"
  fi
}

cmd_status() {
  local c pid state port rc=0 check
  load_config
  [ -d "$CLUSTER_DIR" ] || { echo "no cluster in $CLUSTER_DIR"; return 1; }
  for c in etcd kube-apiserver kube-controller-manager kwok kube-scheduler; do
    case "$c" in
      etcd) port=$ETCD_PORT check=etcd_healthy ;;
      kube-apiserver) port=$APISERVER_PORT check=apiserver_healthy ;;
      kube-controller-manager) port=$KCM_PORT check=kcm_healthy ;;
      kwok) port=$KWOK_PORT check=kwok_healthy ;;
      kube-scheduler) port=$SCHEDULER_PORT check=scheduler_healthy ;;
    esac
    if pid="$(pid_of "$c")"; then
      if "$check"; then state=healthy; else state=unhealthy; [ "$c" = kube-scheduler ] || rc=1; fi
      printf '%-24s %-10s pid %-8s 127.0.0.1:%-6s %s\n' "$c" "$state" "$pid" "$port" "$LOGS/$c.log"
    else
      printf '%-24s %-10s %-12s 127.0.0.1:%-6s %s\n' "$c" stopped "" "$port" "$LOGS/$c.log"
      [ "$c" = kube-scheduler ] || rc=1
    fi
  done
  echo "kubeconfig               $KUBECONFIG_FILE"
  if [ "$rc" = 0 ]; then
    find_bin
    list_nodes | awk '{ total++ } $6 == "True" { ready++ } END { printf "kwok nodes               %d (%d Ready)\n", total, ready }'
  fi
  return "$rc"
}

cmd_env() {
  find_bin
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  printf 'export CLUSTER_DIR=%q\n' "$CLUSTER_DIR"
  # shellcheck disable=SC2016 # $PATH is expanded by the shell that evals this
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
}

cmd_restart_apiserver() {
  local start
  start="$(now)"
  find_bin
  load_config
  pid_of etcd >/dev/null || die "etcd is not running in $CLUSTER_DIR; run '$0 up'"
  [ -f "$RUN/kube-apiserver.args" ] || record_apiserver
  stop kube-apiserver
  launch kube-apiserver "$APISERVER_PORT"
  wait_healthy kube-apiserver apiserver_healthy
  log "kube-apiserver restarted in $(elapsed "$start") s"
}

cmd_nodes() {
  [ $# -eq 1 ] || die "usage: $0 nodes N"
  find_bin
  load_config
  apiserver_healthy || die "the cluster in $CLUSTER_DIR is not running; run '$0 up' first"
  pid_of kwok >/dev/null || die "kwok is not running in $CLUSTER_DIR; run '$0 up'"
  ensure_nodes "$1" 1
}

cmd_scheduler() {
  find_bin
  load_config
  case "${1:-start}" in
    start) scheduler_start ;;
    stop) stop kube-scheduler ;;
    *) die "usage: $0 scheduler [start|stop]" ;;
  esac
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    restart-apiserver) cmd_restart_apiserver "$@" ;;
    nodes) cmd_nodes "$@" ;;
    scheduler) cmd_scheduler "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
