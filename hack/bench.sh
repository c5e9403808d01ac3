#!/usr/bin/env bash
# Benchmarks: Go benchmarks of every package.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$KENNEL_ROOT"
go test -run '^$' -bench . -benchmem -count=${BENCH_COUNT:-3} ./...
