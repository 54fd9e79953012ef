#!/usr/bin/env bash
# Builds the local control plane's tools from source through the Go module proxy and
# caches them by version outside the repository. Idempotent: a tool already built at
# its pinned version is reused.
#
#   hack/tools.sh            build everything missing, print the bin directory
#   hack/tools.sh bindir     print the bin directory only
#   hack/tools.sh kueue      also Kueue and its CRDs (the benchmark's peer; not in `all`)
#
# Each tool gets its own throw-away Go module so dependency versions never mix.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# Only for the benchmark (bench/run.sh builds it; not part of `all`).
KUEUE_VERSION="${KUEUE_VERSION:-v0.17.0}"

CACHE="${MESOS_OPERATOR_CACHE:-$HOME/.cache/mesos-operator}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[tools] %s\n' "$*" >&2; }

# k8s.io/kubernetes resolves these staging modules by replace directives; pin each to
# its published v0.x twin.
K8S_STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client cri-streaming csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
  pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming)

have() { # have NAME VERSION -> true when BIN/NAME-VERSION exists and runs
  [ -x "$BIN/$1-$2" ]
}

link() { # link NAME VERSION: BIN/NAME -> NAME-VERSION
  ln -sf "$1-$2" "$BIN/$1"
}

build_kubernetes() {
  local v="$K8S_VERSION" names=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local missing=0 n
  for n in "${names[@]}"; do have "$n" "$v" || missing=1; done
  if [ "$missing" = 0 ]; then for n in "${names[@]}"; do link "$n" "$v"; done; return; fi
  local staging="v0.${v#v1.}" dir="$SRC/kubernetes-$v" start=$SECONDS
  log "building kubernetes $v (staging $staging); the first build takes many minutes"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init local.build/kubernetes >/dev/null 2>&1
  local args=() m
  for m in "${K8S_STAGING[@]}"; do args+=("-replace=k8s.io/$m=k8s.io/$m@$staging"); done
  go mod edit -go=1.26 "${args[@]}" -require="k8s.io/kubernetes@$v"
  {
    echo '//go:build tools'
    echo 'package tools'
    echo 'import ('
    for n in "${names[@]}"; do echo "  _ \"k8s.io/kubernetes/cmd/$n\""; done
    echo ')'
  } > tools.go
  go mod tidy >/dev/null
  local major minor date ld=()
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=("-X" "$pkg.gitVersion=$v" "-X" "$pkg.gitMajor=$major" "-X" "$pkg.gitMinor=$minor"
      "-X" "$pkg.gitTreeState=clean" "-X" "$pkg.buildDate=$date" "-X" "$pkg.gitCommit=0000000000000000000000000000000000000000")
  done
  mkdir -p "$BIN" out
  for n in "${names[@]}"; do
    have "$n" "$v" && continue
    log "  go build $n"
    go build -trimpath -ldflags "-s -w ${ld[*]}" -o "out/$n" "k8s.io/kubernetes/cmd/$n"
    mv "out/$n" "$BIN/$n-$v"
  done
  for n in "${names[@]}"; do link "$n" "$v"; done
  log "kubernetes $v built in $((SECONDS - start)) s"
}

build_etcd() {
  local v="$ETCD_VERSION" dir="$SRC/etcd-$ETCD_VERSION" start=$SECONDS
  if have etcd "$v"; then link etcd "$v"; return; fi
  log "building etcd $v"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init local.build/etcd >/dev/null 2>&1
  go mod edit -go=1.26 -require="go.etcd.io/etcd/server/v3@$v"
  printf '//go:build tools\npackage tools\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  go mod tidy >/dev/null
  mkdir -p "$BIN"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd-$v" go.etcd.io/etcd/server/v3
  link etcd "$v"
  log "etcd $v built in $((SECONDS - start)) s"
}

build_gobin() { # build_gobin NAME VERSION MODULE PACKAGE
  local n="$1" v="$2" mod="$3" pkg="$4" dir="$SRC/$1-$2" start=$SECONDS
  if have "$n" "$v"; then link "$n" "$v"; return; fi
  log "building $n $v"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  go mod init "local.build/$n" >/dev/null 2>&1
  go mod edit -go=1.26 -require="$mod@$v"
  printf '//go:build tools\npackage tools\nimport _ "%s"\n' "$pkg" > tools.go
  go mod tidy >/dev/null
  mkdir -p "$BIN"
  go build -trimpath -ldflags "-s -w" -o "$BIN/$n-$v" "$pkg"
  link "$n" "$v"
  log "$n $v built in $((SECONDS - start)) s"
}

# Kueue's manager and its CRDs (copied from the module to $CACHE/kueue/VERSION/crds).
build_kueue() {
  local v="$KUEUE_VERSION" crds="$CACHE/kueue/$KUEUE_VERSION/crds"
  build_gobin kueue "$v" sigs.k8s.io/kueue sigs.k8s.io/kueue/cmd/kueue
  if [ ! -f "$crds/kueue.x-k8s.io_clusterqueues.yaml" ]; then
    local dir="$SRC/kueue-$v"
    if [ ! -d "$dir" ]; then
      mkdir -p "$dir" && cd "$dir"
      go mod init local.build/kueue >/dev/null 2>&1
      go mod edit -go=1.26 -require="sigs.k8s.io/kueue@$v"
    fi
    cd "$dir" && go mod download sigs.k8s.io/kueue
    local src
    src="$(go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)/config/components/crd/bases"
    mkdir -p "$crds" && cp "$src"/*.yaml "$crds"/ && chmod u+w "$crds"/*.yaml
    log "Kueue $v CRDs in $crds"
  fi
}

main() {
  if [ "${1:-}" = bindir ]; then echo "$BIN"; return; fi
  mkdir -p "$BIN" "$SRC"
  local only="${1:-all}"
  case "$only" in
    all)
      build_etcd
      build_gobin kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok
      build_kubernetes
      build_gobin helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm
      ;;
    etcd) build_etcd ;;
    kwok) build_gobin kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok ;;
    kubernetes) build_kubernetes ;;
    helm) build_gobin helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm ;;
    kueue) build_kueue ;;
    *) echo "unknown tool $only" >&2; return 2 ;;
  esac
  echo "$BIN"
}

main "$@"
