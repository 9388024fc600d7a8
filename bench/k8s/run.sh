#!/usr/bin/env bash
# Kubernetes benchmarks at 100,000 pods (LIST parse, watch apply, index memory and
# build, resolve lookups): builds caretta_bench_k8s, runs it, and replaces the raw
# output block of bench/results/k8s.md (the table above it is written by hand from it).
# No root, no network. Usage: bench/k8s/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$repo/$build" ;; esac
out="$repo/bench/results/k8s.md"
raw=$(mktemp /tmp/caretta-bench-k8s.XXXXXX)
trap 'rm -f "$raw" "$raw.md"' EXIT

cmake --build "$build" -j2 --target caretta_bench_k8s >&2
"$build/bench/k8s/caretta_bench_k8s" 2>&1 | tee "$raw" >&2

begin='<!-- k8s-bench-raw:begin -->'
end='<!-- k8s-bench-raw:end -->'
grep -q "$begin" "$out" || { echo "bench/k8s: no raw block in $out" >&2; exit 1; }
awk -v begin="$begin" -v end="$end" -v raw="$raw" '
  $0 == begin { print; print "```"; while ((getline line < raw) > 0) print line; print "```"; skip = 1; next }
  $0 == end { skip = 0 }
  !skip { print }' "$out" >"$raw.md"
mv "$raw.md" "$out"
echo "wrote the raw block of $out" >&2
