#!/usr/bin/env bash
# Benchmarks (make bench):
#   1. Go micro-benchmarks of every package (go test -bench), saved to
#      _output/bench/go-bench.txt.
#   2. Side-by-side comparisons of kennel with the upstream components it
#      replaces (test/bench, cmd kennel-bench): peer-finder against the
#      historical Kubernetes peer-finder (needs root: each run gets its own
#      network/mount/UTS namespaces), and the PetSet controller against the
#      StatefulSet controller of kube-controller-manager on the local plane.
#      Runs alternate kennel/upstream; the summary (medians, ratios) goes to
#      stdout and _output/bench/summary.md. See docs/benchmarks.md.
#
# Environment:
#   BENCH_GO=0               skip the Go micro-benchmarks
#   BENCH_COUNT=N            -count of the Go micro-benchmarks (default 3)
#   BENCH_SUITES=a,b         side-by-side suites: peer-finder,controller (default both; "" for none)
#   BENCH_ROUNDS=N           alternating rounds per measurement (default 3)
#   BENCH_CHANGES=N          peer-finder membership changes per round (default 7)
#   BENCH_IDLE=30s           peer-finder idle window
#   BENCH_ORDERED=10,30      OrderedReady scale-up sizes (0→N, then N→0; "" skips them)
#   BENCH_PARALLEL=100       Parallel scale-up sizes, e.g. 100,1000 (0 skips)
#   BENCH_PARALLEL_CLAIMS=with  Parallel sets with a claim template (with), without (without), or both
#   BENCH_AUDIT=0            no audit log (default: the API server logs pod creates and deletes, so that
#                            the set controllers' own are counted apart from kwok's, by client and code)
#   BENCH_CACHED=1000,5000   controller memory scenario: pods cached at each stage ("" skips)
#   BENCH_BASELINE_REV=REV   also measure the controller built at git REV in it
#   BENCH_UPSTREAM_APART=0   the StatefulSet controller inside the plane's kube-controller-manager, its CPU
#                            estimated (default: in one of its own, its CPU and memory measured)
#   BENCH_MANY=200x5         many sets created at once, and a small set behind them; e.g. 200x5,1000x1
#                            runs both (off by default)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"

out=$KENNEL_ROOT/_output/bench
mkdir -p "$out"

if [ "${BENCH_GO:-1}" = 1 ]; then
  log "Go micro-benchmarks (-count=${BENCH_COUNT:-3})"
  go test -run '^$' -bench . -benchmem -count="${BENCH_COUNT:-3}" ./... | tee "$out/go-bench.txt"
fi

suites=${BENCH_SUITES-peer-finder,controller}
[ -n "$suites" ] || exit 0

if [[ ,$suites, == *,peer-finder,* ]] && [ "$(id -u)" != 0 ]; then
  log "the peer-finder comparison needs root (it creates network namespaces); skipping it"
  suites=$(printf '%s' "$suites" | tr ',' '\n' | grep -vx peer-finder | paste -sd, -)
  [ -n "$suites" ] || exit 0
fi

bin=$KENNEL_CACHE/bench/bin
mkdir -p "$bin"
log "building kennel-bench, bench-sandbox, peer-finder and controller into $bin"
go build -o "$bin/kennel-bench" ./test/bench/cmd/kennel-bench
go build -o "$bin/bench-sandbox" ./test/bench/cmd/bench-sandbox
# As shipped: no cgo, trimmed paths; peer-finder also without symbol table
# and DWARF, with the version baked in, as hack/images.sh builds it.
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/kennel-dev/kennel/pkg/version.Version=$version" \
  -o "$bin/peer-finder" ./cmd/peer-finder
CGO_ENABLED=0 go build -trimpath -o "$bin/controller" ./cmd/controller

# The historical peer-finder, built from the Kubernetes module the plane's
# tools module already requires (its go.mod and go.sum are not changed).
upstream=$KENNEL_CACHE/upstream/peer-finder-v1.37.2
if [ ! -x "$upstream" ]; then
  log "building the historical peer-finder (k8s.io/kubernetes v1.37.2 test/images/pets/peer-finder)"
  mkdir -p "$(dirname "$upstream")"
  pkg=k8s.io/kubernetes/test/images/pets/peer-finder
  if ! (cd hack/tools/kube && CGO_ENABLED=0 go build -trimpath -o "$upstream.tmp" "$pkg"); then
    # A go.sum without the entries this package needs: resolve them in a
    # temporary copy of the module, never in the repository.
    log "retrying with -mod=mod in a temporary copy of hack/tools/kube"
    tmp=$(mktemp -d)
    cp hack/tools/kube/go.mod hack/tools/kube/go.sum hack/tools/kube/*.go "$tmp/"
    (cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$upstream.tmp" "$pkg")
    rm -rf "$tmp"
  fi
  mv "$upstream.tmp" "$upstream"
fi

cached=${BENCH_CACHED-1000,5000}
cached=${cached:-0} # 0: no memory scenario
ordered=${BENCH_ORDERED-10,30}
ordered=${ordered:-0} # 0: no OrderedReady scenario
args=(
  --suite="$suites"
  --sandbox="$bin/bench-sandbox"
  --kennel-peer-finder="$bin/peer-finder"
  --upstream-peer-finder="$upstream"
  --controller="$bin/controller"
  --crd=deploy/crd/kennel.dev_petsets.yaml
  --rounds="${BENCH_ROUNDS:-3}"
  --changes="${BENCH_CHANGES:-7}"
  --idle="${BENCH_IDLE:-30s}"
  --ordered="$ordered"
  --parallel="${BENCH_PARALLEL:-100}"
  --parallel-claims="${BENCH_PARALLEL_CLAIMS:-with}"
  --audit="$([ "${BENCH_AUDIT:-1}" = 0 ] && echo false || echo true)"
  --cached-pods="$cached"
  --many-sets="${BENCH_MANY:-}"
  --upstream-apart="$([ "${BENCH_UPSTREAM_APART:-1}" = 0 ] && echo false || echo true)"
  --out="$out/summary.md"
)
if [[ ,$suites, == *,controller,* ]]; then
  args+=(--plane-bin="$(hack/plane-binaries.sh)")
fi
if [ -n "${BENCH_BASELINE_REV:-}" ]; then
  rev=$(git rev-parse --short "$BENCH_BASELINE_REV")
  log "building the baseline controller at $rev"
  tree=$(mktemp -d)
  git archive "$rev" | tar -x -C "$tree"
  (cd "$tree" && CGO_ENABLED=0 go build -trimpath -o "$bin/controller-$rev" ./cmd/controller)
  rm -rf "$tree"
  args+=(--baseline-controller="$bin/controller-$rev")
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/kennel-bench-XXXXXX")
start=$SECONDS
if "$bin/kennel-bench" "${args[@]}" --work-dir="$work"; then
  rm -rf "$work"
else
  log "kennel-bench failed; its scratch directory (logs) is kept in $work"
  exit 1
fi
log "side-by-side benchmarks took $((SECONDS - start))s; summary in $out/summary.md"
